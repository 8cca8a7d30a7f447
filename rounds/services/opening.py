"""Opening due rounds: read each team's roster from Teams, then freeze it and queue the
invitations in one transaction (store.rounds.lifecycle.open_round). Runs on the scheduler's leader."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference
from sqlmodel import Session

from bot.cards.rounds.invitation import InvitationView, invitation_card
from bot.config import Settings
from bot.replies import card_activity
from framework.content import Framework
from store.db import Database
from store.outbox import Target, enqueue
from store.rounds.lifecycle import Invitee, Member, OpenResult, due_to_open, open_round
from store.rounds.tables import Round
from store.teams import Team

log = logging.getLogger(__name__)

ROSTER_PAGE_SIZE = 500  # Teams' maximum for paged members


class RoundOpener:
    def __init__(
        self,
        db: Database,
        adapter: CloudAdapter,
        settings: Settings,
        framework: Framework,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.adapter = adapter
        self.settings = settings
        self.framework = framework
        self.on_queued = on_queued  # e.g. the outbox sender's wake()

    async def open_due(self, now: datetime) -> list[OpenResult]:
        opened = []
        for round_, teams in await self.db.run(lambda s: due_to_open(s, now)):
            assert round_.id is not None
            rosters: dict[int, list[Member]] = {}
            for team in teams:
                try:
                    rosters[team.id or 0] = await self.roster(team)
                except Exception:
                    log.exception(
                        "could not read the roster of team %s for round %s", team.team_id, round_.id
                    )
            result = await self.db.run(self._opening(round_.id, rosters, now))
            if result is not None:
                log.info(
                    "opened round %s: %d people, %d invited",
                    round_.id,
                    result.participants,
                    result.invited,
                )
                opened.append(result)
                self.on_queued()
        return opened

    def _opening(
        self, round_id: int, rosters: dict[int, list[Member]], now: datetime
    ) -> Callable[[Session], OpenResult | None]:
        def work(session: Session) -> OpenResult | None:
            return open_round(session, round_id, rosters, invite=self._invite, now=now)

        return work

    async def roster(self, team: Team) -> list[Member]:
        """Every member of the team, all pages (keyed by Teams id and Entra object id)."""
        reference = ConversationReference().deserialize(json.loads(team.reference))
        members: list[Member] = []

        async def read(turn_context: TurnContext) -> None:
            token: str | None = None
            while True:
                # TeamsInfo takes the continuation token before the page size.
                page = await TeamsInfo.get_paged_team_members(
                    turn_context, team.team_id, token, ROSTER_PAGE_SIZE
                )
                members.extend(_member(m, team.tenant_id) for m in page.members or [])
                token = page.continuation_token
                if not token:
                    return

        await self.adapter.continue_conversation(reference, read, self.settings.app_id)
        return members

    def _invite(self, session: Session, round_: Round, invitee: Invitee, team: Team) -> bool:
        assert round_.id is not None
        view = InvitationView(
            round_id=round_.id,
            round_name=round_.name,
            team_names=invitee.team_names,
            closes_on=f"{round_.closes_at.astimezone(self.settings.zone):%A %-d %B}",
            question_count=self.framework.question_count,
        )
        activity = card_activity(invitation_card(view)).serialize()
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
            activity=activity,
            now=round_.opened_at or round_.opens_at,
            person_id=invitee.person_id,
            team_id=team.id,
            round_id=round_.id,
        )


def _member(account: Any, tenant_id: str) -> Member:
    return Member(
        teams_user_id=str(account.id),
        aad_object_id=getattr(account, "aad_object_id", None),
        name=str(getattr(account, "name", "") or ""),
        tenant_id=str(getattr(account, "tenant_id", None) or tenant_id),
        team_role=str(getattr(account, "user_role", None) or "user"),
    )
