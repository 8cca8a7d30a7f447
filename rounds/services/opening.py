"""Opening due rounds: read each team's roster from Teams, then freeze it and queue the
invitations in batches of short transactions (store.rounds.opening). Runs on the scheduler's
leader."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.content import Framework
from framework.identity import TeamMember
from framework.reading import reading_minutes
from rounds.rules.schedule import ReminderPlan, resolve_zone
from rounds.rules.views import InvitationView
from rounds.services.ports import RosterReader, RoundMessages, RoundOptions
from rounds.services.rosters import PendingRosters, read_rosters
from store.db import Database
from store.outbox import Queued, Target, activity_json, enqueue
from store.rounds import pending
from store.rounds.lifecycle import get_round
from store.rounds.notes import MISSED_REASON
from store.rounds.opening import (
    BatchInvitee,
    Invitation,
    Invitee,
    OpenResult,
    RosterEntry,
    due_to_open,
    freeze_people,
    mark_open,
    record_invitations,
    roster_entries,
    rounds_to_invite,
    uninvited,
)
from store.rounds.tables import Round
from store.teams import Team

log = logging.getLogger(__name__)


async def nothing_to_wait_for() -> None:
    """The default `give_way`: no turns to give way to (the CLI, tests of the steps alone)."""


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
        batch: int = 200,
        give_way: Callable[[], Awaitable[None]] = nothing_to_wait_for,
    ) -> None:
        self.db = db
        self.rosters = rosters
        self.framework = framework
        self.options = options
        self.messages = messages
        self.on_queued = on_queued  # e.g. the outbox sender's wake()
        self.batch = batch  # people per transaction: well under 50 ms of SQLite's write lock
        # Called before each batch: returns once no turn is in flight (or after a few tens of
        # ms), so that a person's answer does not share the process with a new batch.
        self.give_way = give_way
        self._cards: dict[tuple[int, datetime, tuple[str, ...]], str] = {}
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
            result = await self.open_round(round_.id, rosters, now, missing=missing)
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

    async def open_round(
        self,
        round_id: int,
        rosters: dict[int, list[TeamMember]],
        now: datetime,
        *,
        missing: Sequence[Team] = (),
    ) -> OpenResult | None:
        """Freeze the rosters in batches, open the round (recording the teams whose roster is
        still `missing` as pending), queue its invitations in batches; each batch a short
        transaction, the whole safe to run again after a crash at any point."""
        entries = roster_entries(rosters)
        for start in range(0, len(entries), self.batch):
            chunk = entries[start : start + self.batch]
            await self.give_way()
            await self.db.run(_freezer(round_id, chunk, now))

        def opening(session: Session) -> bool:
            if not mark_open(session, round_id, list(rosters), len(entries), now):
                return False
            if missing:
                pending.record_pending(session, round_id, list(missing), now)
            return True

        opened = await self.db.run(opening)
        if not opened:
            return None
        invited = await self.invite(round_id, now)
        return OpenResult(round_id, len(entries), invited)

    async def invite_waiting(self, now: datetime) -> int:
        """Finish any opening that stopped before every invitation was queued."""
        invited = 0
        for round_ in await self.db.read(rounds_to_invite):
            assert round_.id is not None
            invited += await self.invite(round_.id, now)
        return invited

    async def invite(self, round_id: int, now: datetime) -> int:
        """Queue the round's invitations still to queue, a batch per transaction."""
        round_ = await self.db.run(lambda s: get_round(s, round_id))
        plan = ReminderPlan.parse(round_.reminder_plan)
        invited = 0

        def next_batch(session: Session) -> list[Invitation]:
            """Drawn beside the read, on its thread: 200 invitations drawn on the event loop
            held it 10-20 ms a batch, and every answer arriving meanwhile waited."""
            invitees = uninvited(session, round_id, self.batch)
            return [self._invitation(round_, plan, i) for i in invitees]

        while True:
            await self.give_way()
            invitations = await self.db.read(next_batch)
            if not invitations:
                break
            invited += await self.db.run(_recorder(round_id, invitations, now))
            self.on_queued()
        return invited

    def _invitation(self, round_: Round, plan: ReminderPlan, invitee: BatchInvitee) -> Invitation:
        assert round_.id is not None
        team = invitee.teams[0]
        if invitee.conversation is not None:
            target = Target.conversation(
                invitee.conversation.conversation_id, invitee.conversation.service_url
            )
        else:
            target = Target.person(
                user_id=invitee.teams_user_id,
                tenant_id=invitee.tenant_id,
                service_url=team.service_url,
                bot_id=_bot_id(team.reference),
            )
        message = Queued(
            dedupe_key=f"round:{round_.id}:invite:person:{invitee.person_id}",
            kind="invitation",
            tenant_id=invitee.tenant_id,
            target=target,
            activity_json=self._invitation_json(round_, invitee.team_names),
            person_id=invitee.person_id,
            team_id=team.id,
            round_id=round_.id,
            not_before=round_.opened_at or round_.opens_at,
        )
        zone = resolve_zone(invitee.time_zone, self.options.zone.key)
        return Invitation(invitee.participant_id, message, _first_moment(round_, plan, zone))

    def _invitation_json(self, round_: Round, team_names: tuple[str, ...]) -> str:
        """The invitation card, drawn and serialised once per round and set of teams."""
        assert round_.id is not None
        key = (round_.id, round_.closes_at, team_names)
        cached = self._cards.get(key)
        if cached is None:
            view = InvitationView(
                round_id=round_.id,
                round_name=round_.name,
                team_names=team_names,
                closes_on=f"{round_.closes_at.astimezone(self.options.zone):%A %-d %B}",
                question_count=self.framework.question_count,
                minutes=reading_minutes(self.framework),
            )
            cached = activity_json(self.messages.invitation(view))
            if len(self._cards) > 4096:
                self._cards.clear()
            self._cards[key] = cached
        return cached

    def _invite(self, session: Session, round_: Round, invitee: Invitee, team: Team) -> bool:
        """One person's invitation (a pending team's roster read late: few people, so one at a
        time); the same dedupe key as the batches'."""
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


def _freezer(round_id: int, chunk: list[RosterEntry], now: datetime) -> Callable[[Session], None]:
    return lambda session: freeze_people(session, round_id, chunk, now)


def _recorder(
    round_id: int, invitations: list[Invitation], now: datetime
) -> Callable[[Session], int]:
    return lambda session: record_invitations(session, round_id, invitations, now)


@functools.lru_cache(maxsize=256)
def _bot_id(reference: str) -> str:
    return str(json.loads(reference).get("bot", {}).get("id", ""))


def _first_moment(round_: Round, plan: ReminderPlan, zone: ZoneInfo) -> datetime | None:
    """The earliest a nudge can be due for someone in `zone` who has done nothing yet: the
    round's first plan moment there (rounds.rules.nudges.next_nudge_at never answers
    earlier)."""
    return _moments(round_.opens_at, round_.closes_at, plan, zone)


@functools.lru_cache(maxsize=1024)
def _moments(
    opens_at: datetime, closes_at: datetime, plan: ReminderPlan, zone: ZoneInfo
) -> datetime | None:
    moments = plan.moments(opens_at, closes_at, zone)
    return min(moments) if moments else None
