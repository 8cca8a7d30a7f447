"""The improvement team's side, in the personal chat: `rounds` lists rounds; a form opens a new
one; Close now and Cancel act on one. Every action is checked on the server (rounds.rules.access) and
written to the audit log, allowed or refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.actions import CardAction
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.cards.rounds import admin as admin_cards
from bot.cards.rounds.full_results import export_link_card, full_results_card
from bot.dialogs.assessment import Reply
from framework.content import Framework
from framework.identity import Identity
from rounds.rules.access import REFUSED, Permission, Policy
from rounds.rules.when import Period, WhenError, parse_when
from store.assessments.aggregate import Clock
from store.audit import audit
from store.db import Database
from store.rounds.export_links import LINK_LIFETIME, create_link
from store.rounds.lifecycle import (
    RoundError,
    RoundSpec,
    cancel_round,
    create_round,
    extend_round,
    get_round,
    is_team_owner,
    list_rounds,
    request_close,
)
from store.rounds.results import RoundNotFound, compute_round_results
from store.teams import installed_teams


class AdminDialog:
    def __init__(
        self,
        db: Database,
        framework: Framework,
        policy: Policy,
        *,
        zone: ZoneInfo,
        clock: Clock,
        min_group: int = 5,
        min_comment_group: int = 10,
        public_url: str = "",
        in_improvement_team: Callable[[Identity], Awaitable[bool]] | None = None,
    ) -> None:
        self.public_url = public_url
        self.in_improvement_team = in_improvement_team
        self.min_group = min_group
        self.min_comment_group = min_comment_group
        self.db = db
        self.framework = framework
        self.policy = policy
        self.zone = zone
        self.clock = clock

    @staticmethod
    def handles_text(text: str) -> bool:
        return " ".join(text.lower().split()) in {"rounds", "round", "new round"}

    async def on_text(self, identity: Identity, text: str) -> Reply:
        if not await self._allowed(identity, "rounds.view"):
            return _refused()
        if " ".join(text.lower().split()) == "new round":
            return Reply(send=[await self._form()])
        return Reply(send=[await self._list()])

    async def on_action(self, identity: Identity, action: CardAction) -> Reply:
        if not await self._allowed(identity, action.verb, self._team_owner_of(action)):
            return _refused(replace=True)
        if action.verb == "round_new":
            return Reply(replace=await self._list(), send=[await self._form()])
        if action.verb == "round_create":
            return await self._create(identity, action)
        if action.verb == "results":
            return await self._full_results(identity, action)
        if action.verb == "export":
            return await self._export(identity, action)
        if action.round is None:
            return Reply(replace=await self._list("ⓘ Choose a round first. Nothing was changed."))
        round_id = action.round
        actor = _actor(identity)

        def change(session: Session) -> None:
            now = self.clock()
            if action.verb == "round_extend":
                closes = get_round(session, round_id).closes_at + timedelta(days=7)
                extend_round(session, round_id, closes, actor=actor, now=now)
            elif action.verb == "round_close":
                request_close(session, round_id, actor=actor, now=now)
            else:
                cancel_round(session, round_id, actor=actor, now=now)

        try:
            await self.db.run(change)
        except RoundError as exc:
            return Reply(replace=await self._list(f"ⓘ {exc}. Nothing was changed."))
        if action.verb == "round_extend":
            return Reply(replace=await self._list(f"✓ Round {round_id} now closes a week later."))
        done = (
            "is closing now: the summary goes to its teams shortly"
            if action.verb == "round_close"
            else "was cancelled"
        )
        return Reply(replace=await self._list(f"✓ Round {round_id} {done}."))

    async def _create(self, identity: Identity, action: CardAction) -> Reply:
        now = self.clock()
        try:
            spec = RoundSpec(
                name=action.name or "",
                team_ids=tuple(t for t in (action.teams or "").split(",") if t),
                opens_at=self._date(action.opens or "now", now),
                closes_at=self._date(action.closes or "", now),
                reminder_plan=action.reminders or "3d,7d,last-day",
                role_question=action.role_question == "true",
                repeat_every=None
                if action.repeat in (None, "none")
                else str(Period.parse(action.repeat or "")),
            )
            actor = _actor(identity)
            round_id = await self.db.run(
                lambda s: create_round(s, spec, framework=self.framework, actor=actor, now=now).id
            )
        except (RoundError, WhenError) as exc:
            note = cards.notice_card(NoticeView(f"ⓘ {exc}. Nothing was created."))
            return Reply(send=[note, await self._form()])
        opens = (
            "now"
            if spec.opens_at <= now
            else f"on {spec.opens_at.astimezone(self.zone):%-d %B at %H:%M}"
        )
        return Reply(replace=await self._list(f"✓ Round {round_id} created: it opens {opens}."))

    async def _export(self, identity: Identity, action: CardAction) -> Reply:
        if not self.public_url:
            note = (
                "Downloads from Teams need IMPACT_PUBLIC_URL (the bot's https address). Meanwhile "
                "use `impact-bot rounds export`."
            )
            return Reply(send=[cards.notice_card(NoticeView(f"ⓘ {note}"))])
        round_id, fmt = action.round_id, action.fmt or "csv"
        if round_id is None:
            return Reply(
                send=[cards.notice_card(NoticeView("ⓘ That card doesn't say which round."))]
            )
        actor, now = _actor(identity), self.clock()

        def make(session: Session) -> tuple[str, str]:
            round_ = get_round(session, round_id)
            link = create_link(session, round_id, fmt, created_by=actor, now=now)
            audit(session, actor=actor, action="round.export", target=f"round:{round_id}",
                  detail={"format": fmt, "via": "teams"}, now=now)  # fmt: skip
            return round_.name, link.token

        try:
            name, token = await self.db.run(make)
        except RoundError as exc:
            return Reply(send=[cards.notice_card(NoticeView(f"ⓘ {exc}."))])
        url = f"{self.public_url.rstrip('/')}/exports/{token}"
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        return Reply(send=[export_link_card(name, fmt, url, minutes)])

    async def _full_results(self, identity: Identity, action: CardAction) -> Reply:
        round_id, team_id = action.round_id, action.team_id
        can_export = await self._is_improvement_team(identity)
        if round_id is None or team_id is None:
            return Reply(
                send=[cards.notice_card(NoticeView("ⓘ That card doesn't say which results."))]
            )

        def read(session: Session) -> dict[str, object]:
            results = compute_round_results(
                session,
                round_id,
                framework=self.framework,
                min_group=self.min_group,
                min_comment_group=self.min_comment_group,
            )
            return full_results_card(results, team_id, self.framework, can_export=can_export)

        try:
            return Reply(send=[await self.db.run(read)])
        except (RoundNotFound, KeyError, LookupError):
            return Reply(send=[cards.notice_card(NoticeView("ⓘ Those results don't exist."))])

    def _date(self, value: str, now: datetime) -> datetime:
        moment = parse_when(value, now=now, zone=self.zone)
        # A round opening "today" at 09:00 that has already passed opens now.
        return max(moment, now) if moment.date() == now.date() else moment

    @staticmethod
    def _team_owner_of(action: CardAction) -> tuple[int, int] | None:
        """Team owners may read their own team's results: (round, team) for that check."""
        if action.verb == "results" and action.round_id and action.team_id:
            return action.round_id, action.team_id
        return None

    async def _allowed(
        self, identity: Identity, action: str, owner_of: tuple[int, int] | None = None
    ) -> bool:
        member = await self._is_improvement_team(identity)

        def decide_and_record(session: Session) -> bool:
            allowed = member or (
                owner_of is not None and is_team_owner(session, *owner_of, identity)
            )
            audit(session, actor=_actor(identity), action=action, allowed=allowed, now=self.clock())
            return allowed

        return await self.db.run(decide_and_record)

    async def _is_improvement_team(self, identity: Identity) -> bool:
        if self.policy.allows(identity.aad_object_id, Permission.MANAGE_ROUNDS):
            return True
        return self.in_improvement_team is not None and await self.in_improvement_team(identity)

    async def _list(self, notice: str | None = None) -> dict[str, object]:
        summaries = await self.db.run(list_rounds)
        lines = tuple(
            admin_cards.RoundLine(
                id=s.id,
                name=s.name,
                status=s.status,
                when=f"{self._day(s.opens_at)} → {self._day(s.closes_at)}",
                teams=", ".join(s.teams),
                submitted=s.submitted,
                participants=s.participants,
            )
            for s in summaries[:10]
        )
        return admin_cards.rounds_card(lines, notice)

    def _day(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%-d %b}"

    async def _form(self) -> dict[str, object]:
        teams = await self.db.run(installed_teams)
        today = self.clock().astimezone(self.zone).date()
        return admin_cards.new_round_card(
            tuple(admin_cards.TeamChoice(t.team_id, t.name) for t in teams),
            today.isoformat(),
            (today + timedelta(days=14)).isoformat(),
        )


def _actor(identity: Identity) -> str:
    return identity.aad_object_id or f"teams:{identity.teams_user_id}"


def _refused(*, replace: bool = False) -> Reply:
    note = cards.notice_card(NoticeView(f"ⓘ {REFUSED}"))
    return Reply(replace=note) if replace else Reply(send=[note])
