"""The improvement team's side, in the personal chat: `rounds` lists rounds; a form opens a new
one; Extend a week, Close now and Cancel act on one; Full results and downloads from a summary.
Every action is checked on the server (rounds.services.improvement_team, team owners for their
own results) and written to the audit log, allowed or refused (rounds.services.admin)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.actions.rounds import (
    ExportAction,
    ResultsAction,
    RoundCancelAction,
    RoundChangeAction,
    RoundCloseAction,
    RoundCreateAction,
    RoundExtendAction,
    RoundNewAction,
)
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.cards.common import Card
from bot.cards.rounds import admin as admin_cards
from bot.cards.rounds.full_results import export_link_card, full_results_card, progress_card
from bot.registry import FeatureContext, Reply, Turn
from framework.identity import Identity
from rounds.rules.access import REFUSED, Policy
from rounds.rules.when import Period, WhenError, parse_when
from rounds.services.admin import (
    LINK_LIFETIME,
    RoundAdmin,
    RoundError,
    RoundNotClosed,
    RoundNotFound,
    RoundSpec,
    actor_of,
)
from rounds.services.evidence import QuestionEvidence
from rounds.services.improvement_team import ImprovementTeam

LISTED_ROUNDS = 10


class RoundsAdmin:
    def __init__(self, ctx: FeatureContext, evidence: QuestionEvidence | None = None) -> None:
        settings = ctx.settings
        self.framework = ctx.framework
        self.zone = settings.zone
        self.clock = ctx.clock
        self.public_url = settings.public_url
        self.service = RoundAdmin(
            ctx.db, ctx.framework, settings.round_options(), ctx.clock, evidence
        )
        self.improvement_team = ImprovementTeam(
            ctx.db, Policy.of(settings.admin_ids), ctx.teams, settings.improvement_team_id
        )

    # -- text -----------------------------------------------------------------------------

    async def show_rounds(self, turn: Turn, _text: str) -> Reply:
        if not await self._allowed(turn.identity, "rounds.view"):
            return _refused()
        return Reply(send=[await self._list(turn)])

    async def new_round_text(self, turn: Turn, _text: str) -> Reply:
        if not await self._allowed(turn.identity, "rounds.view"):
            return _refused()
        return Reply(send=[await self._form(turn)])

    # -- card actions ---------------------------------------------------------------------

    async def on_new(self, turn: Turn, action: RoundNewAction) -> Reply:
        if not await self._allowed(turn.identity, action.verb):
            return _refused(replace=True)
        return Reply(replace=await self._list(turn), send=[await self._form(turn)])

    async def on_create(self, turn: Turn, action: RoundCreateAction) -> Reply:
        if not await self._allowed(turn.identity, action.verb):
            return _refused(replace=True)
        now = self.clock()
        try:
            spec = self._spec(action, now)
            round_id = await self.service.create(
                spec, actor=actor_of(turn.identity), tenant=turn.identity.tenant_id
            )
        except (RoundError, WhenError) as exc:
            note = cards.notice_card(NoticeView(f"ⓘ {exc}. Nothing was created."))
            return Reply(send=[note, await self._form(turn)])
        opens = (
            "now"
            if spec.opens_at <= now
            else f"on {spec.opens_at.astimezone(self.zone):%-d %B at %H:%M}"
        )
        return Reply(
            replace=await self._list(turn, f"✓ Round {round_id} created: it opens {opens}.")
        )

    async def on_extend(self, turn: Turn, action: RoundExtendAction) -> Reply:
        return await self._change(turn, action, "now closes a week later")

    async def on_close(self, turn: Turn, action: RoundCloseAction) -> Reply:
        return await self._change(
            turn, action, "is closing now: the summary goes to its teams shortly"
        )

    async def on_cancel(self, turn: Turn, action: RoundCancelAction) -> Reply:
        return await self._change(turn, action, "was cancelled")

    async def on_results(self, turn: Turn, action: ResultsAction) -> Reply:
        owner_of = (action.round_id, action.team_id)
        if not await self._allowed(turn.identity, action.verb, owner_of):
            return _refused(replace=True)
        can_export = await self.improvement_team.includes(turn.identity)
        try:
            if not await self._in_tenant(turn, action.round_id, action.verb):
                raise RoundNotFound(action.round_id)
            results = await self.service.results(action.round_id)
        except RoundNotClosed:  # while open: the team's response count, nothing more
            return await self._progress(action.round_id, action.team_id)
        except RoundNotFound:
            return Reply(send=[cards.notice_card(NoticeView("ⓘ Those results don't exist."))])
        try:
            evidence = await self.service.evidence_for(action.round_id, action.team_id)
            card = full_results_card(
                results, action.team_id, self.framework, can_export=can_export, evidence=evidence
            )
        except (RoundNotFound, KeyError, LookupError):
            return Reply(send=[cards.notice_card(NoticeView("ⓘ Those results don't exist."))])
        return Reply(send=[card])

    async def on_export(self, turn: Turn, action: ExportAction) -> Reply:
        if not await self._allowed(turn.identity, action.verb):
            return _refused(replace=True)
        if not self.public_url:
            note = (
                "Downloads from Teams need IMPACT_PUBLIC_URL (the bot's https address). Meanwhile "
                "use `impact-bot rounds export`."
            )
            return Reply(send=[cards.notice_card(NoticeView(f"ⓘ {note}"))])
        try:
            if not await self._in_tenant(turn, action.round_id, action.verb):
                raise RoundError("that round doesn't exist")
            name, token = await self.service.export_link(
                action.round_id, action.fmt, actor=actor_of(turn.identity)
            )
        except RoundError as exc:
            return Reply(send=[cards.notice_card(NoticeView(f"ⓘ {exc}."))])
        url = f"{self.public_url.rstrip('/')}/exports/{token}"
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        return Reply(send=[export_link_card(name, action.fmt, url, minutes)])

    # -- helpers --------------------------------------------------------------------------

    async def _progress(self, round_id: int, team_id: int) -> Reply:
        progress = await self.service.progress(round_id, team_id)
        if progress is None:
            return Reply(send=[cards.notice_card(NoticeView("ⓘ Those results don't exist."))])
        closes_on = f"{progress.closes_at.astimezone(self.zone):%A %-d %B at %H:%M}"
        return Reply(send=[progress_card(progress, closes_on)])

    async def _change(self, turn: Turn, action: RoundChangeAction, done: str) -> Reply:
        if not await self._allowed(turn.identity, action.verb):
            return _refused(replace=True)
        if action.round is None:
            notice = "ⓘ Choose a round first. Nothing was changed."
            return Reply(replace=await self._list(turn, notice))
        round_id, actor = action.round, actor_of(turn.identity)
        try:
            if not await self._in_tenant(turn, round_id, action.verb):
                raise RoundError("that round doesn't exist")
            if isinstance(action, RoundExtendAction):
                await self.service.extend_by(round_id, timedelta(days=7), actor=actor)
            elif isinstance(action, RoundCloseAction):
                await self.service.close(round_id, actor=actor)
            else:
                await self.service.cancel(round_id, actor=actor)
        except RoundError as exc:
            return Reply(replace=await self._list(turn, f"ⓘ {exc}. Nothing was changed."))
        return Reply(replace=await self._list(turn, f"✓ Round {round_id} {done}."))

    def _spec(self, action: RoundCreateAction, now: datetime) -> RoundSpec:
        return RoundSpec(
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

    def _date(self, value: str, now: datetime) -> datetime:
        moment = parse_when(value, now=now, zone=self.zone)
        # A round opening "today" at 09:00 that has already passed opens now.
        return max(moment, now) if moment.date() == now.date() else moment

    async def _in_tenant(self, turn: Turn, round_id: int, action: str) -> bool:
        """Whether the round is of the person's own tenant; if not, the refusal is audited and
        the round is treated as one that does not exist."""
        if await self.service.in_tenant(round_id, turn.identity.tenant_id):
            return True
        await self.service.record_decision(
            turn.identity, f"{action}.other_tenant", improvement_team=False
        )
        return False

    async def _allowed(
        self, identity: Identity, action: str, owner_of: tuple[int, int] | None = None
    ) -> bool:
        member = await self.improvement_team.includes(identity)
        return await self.service.record_decision(
            identity, action, improvement_team=member, owner_of=owner_of
        )

    async def _list(self, turn: Turn, notice: str | None = None) -> Card:
        """The rounds of the person's own tenant."""
        summaries = await self.service.rounds(turn.identity.tenant_id)
        lines = tuple(
            admin_cards.RoundLine(
                id=s.id,
                name=s.name,
                status=s.status,
                when=f"{self._day(s.opens_at)} → {self._day(s.closes_at)}",
                teams=", ".join(s.teams),
                submitted=s.submitted,
                participants=s.participants,
                note=s.note,
            )
            for s in summaries[:LISTED_ROUNDS]
        )
        return admin_cards.rounds_card(lines, notice)

    def _day(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%-d %b}"

    async def _form(self, turn: Turn) -> Card:
        teams = await self.service.teams(turn.identity.tenant_id)
        today = self.clock().astimezone(self.zone).date()
        return admin_cards.new_round_card(
            tuple(admin_cards.TeamChoice(t.team_id, t.name) for t in teams),
            today.isoformat(),
            (today + timedelta(days=14)).isoformat(),
        )


def _refused(*, replace: bool = False) -> Reply:
    note = cards.notice_card(NoticeView(f"ⓘ {REFUSED}"))
    return Reply(replace=note) if replace else Reply(send=[note])
