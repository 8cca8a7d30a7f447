"""Opening due rounds: read each team's roster from Teams, then freeze it and queue the
invitations in one transaction (store.rounds.opening.open_round). Runs on the scheduler's
leader."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from framework.content import Framework
from framework.identity import TeamMember
from framework.reading import reading_minutes
from rounds.rules.views import InvitationView
from rounds.services.ports import RosterReader, RoundMessages, RoundOptions
from rounds.services.rosters import PendingRosters, read_rosters
from store.db import Database
from store.outbox import Target, enqueue
from store.rounds import pending
from store.rounds.notes import MISSED_REASON
from store.rounds.opening import Invitee, OpenResult, due_to_open, open_round
from store.rounds.tables import Round
from store.teams import Team

log = logging.getLogger(__name__)


class RoundOpener:
    def __init__(
        self,
        db: Database,
        rosters: RosterReader,
        framework: Framework,
        options: RoundOptions,
        messages: RoundMessages,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.rosters = rosters
        self.framework = framework
        self.options = options
        self.messages = messages
        self.on_queued = on_queued  # e.g. the outbox sender's wake()
        # Teams whose roster could not be read stay pending: retried by the scheduler.
        self.pending = PendingRosters(db, rosters, self._invite, on_queued=on_queued)

    async def open_due(self, now: datetime) -> list[OpenResult]:
        opened = []
        for round_, teams in await self.db.run(lambda s: due_to_open(s, now)):
            assert round_.id is not None
            if round_.closes_at <= now:
                await self._missed(round_, now)
                continue
            rosters, missing = await read_rosters(self.rosters, round_, teams)
            result = await self.db.run(self._opening(round_.id, rosters, missing, now))
            if result is not None:
                log.info(
                    "opened round %s: %d people, %d invited; %d of %d teams' rosters pending",
                    round_.id,
                    result.participants,
                    result.invited,
                    len(missing),
                    len(teams),
                )
                opened.append(result)
                self.on_queued()
        return opened

    async def _missed(self, round_: Round, now: datetime) -> None:
        round_id = round_.id
        assert round_id is not None
        if await self.db.run(lambda s: pending.mark_missed(s, round_id, now)):
            log.warning(
                "round %s not opened and nobody invited: %s (closing %s, processed %s)",
                round_id,
                MISSED_REASON,
                round_.closes_at.isoformat(),
                now.isoformat(),
            )

    def _opening(
        self,
        round_id: int,
        rosters: dict[int, list[TeamMember]],
        missing: list[Team],
        now: datetime,
    ) -> Callable[[Session], OpenResult | None]:
        def work(session: Session) -> OpenResult | None:
            result = open_round(session, round_id, rosters, invite=self._invite, now=now)
            if result is not None and missing:
                pending.record_pending(session, round_id, missing, now)
            return result

        return work

    def _invite(self, session: Session, round_: Round, invitee: Invitee, team: Team) -> bool:
        assert round_.id is not None
        view = InvitationView(
            round_id=round_.id,
            round_name=round_.name,
            team_names=invitee.team_names,
            closes_on=f"{round_.closes_at.astimezone(self.options.zone):%A %-d %B}",
            question_count=self.framework.question_count,
            minutes=reading_minutes(self.framework),
        )
        if invitee.conversation is not None:
            target = Target.conversation(
                invitee.conversation.conversation_id, invitee.conversation.service_url
            )
        else:
            bot_id = json.loads(team.reference).get("bot", {}).get("id", "")
            target = Target.person(
                user_id=invitee.teams_user_id,
                tenant_id=invitee.tenant_id,
                service_url=team.service_url,
                bot_id=bot_id,
            )
        return enqueue(
            session,
            dedupe_key=f"round:{round_.id}:invite:person:{invitee.person_id}",
            kind="invitation",
            tenant_id=invitee.tenant_id,
            target=target,
            activity=self.messages.invitation(view),
            now=round_.opened_at or round_.opens_at,
            person_id=invitee.person_id,
            team_id=team.id,
            round_id=round_.id,
        )
