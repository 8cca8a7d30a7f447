"""Huddle schedules and the team tree, from Teams: `huddle schedule`, `huddle pause|resume|
delete`, `huddle skip [date]` in a team's channel; `huddles` and `team tree` in the 1:1 chat;
the schedule form, the schedules card's buttons and the tree form. Only a team's leads (its
owners in Teams, or people the improvement team named) and the improvement team change its
schedules; only the improvement team arranges the tree. Every decision is audited."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from bot.actions.huddles import (
    HuddleDeleteAction,
    HuddlePauseAction,
    HuddleResumeAction,
    HuddleScheduleChangeAction,
    HuddleScheduleFormAction,
    HuddleScheduleSaveAction,
    HuddleSkipAction,
    TeamParentAction,
)
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.cards.common import Card
from bot.cards.huddles import schedules as schedule_cards
from bot.dialogs.huddles.wiring import huddle_services
from bot.registry import FeatureContext, Reply, Turn, normalise_text
from huddles.rules.schedule import ScheduleError, parse_days, parse_time
from huddles.rules.views import Choice, ScheduleFormView, SchedulesView, TreeLine, TreeView
from huddles.services.access import NOT_A_LEAD, NOT_IMPROVEMENT, actor_of
from huddles.services.schedules import HuddleError, ScheduleInfo, ScheduleSpec
from rounds.rules.written import PreferencesError, parse_date
from store.teams import Team

_CHANGE = re.compile(r"^huddle (pause|resume|delete|skip)(?: (.+))?$")
DONE = {"pause": "paused", "resume": "resumed", "skip": "will skip", "delete": "deleted"}
IN_A_CHANNEL = "Type that in the team's channel: the schedule is for the team there."


def is_schedule_change(text: str) -> bool:
    return _CHANGE.match(normalise_text(text)) is not None


def _note(message: str) -> Card:
    return cards.notice_card(NoticeView(message if message.startswith("✓") else f"ⓘ {message}"))


class HuddleAdmin:
    def __init__(self, ctx: FeatureContext) -> None:
        self.clock = ctx.clock
        self.services = huddle_services(ctx)
        self.admin = self.services.admin
        self.access = self.services.access

    # -- text -------------------------------------------------------------------------------

    async def schedule_text(self, turn: Turn, _text: str) -> Reply:
        team = await self._channel_team(turn)
        if isinstance(team, str):
            return Reply(send=[_note(team)])
        if not await self.access.decide_manage(turn.identity, team, "huddle.form"):
            return Reply(send=[_note(NOT_A_LEAD)])
        listing = await self._schedules(turn, team)
        return Reply(send=[listing, await self._form(team)])

    async def change_text(self, turn: Turn, text: str) -> Reply:
        match = _CHANGE.match(normalise_text(text))
        assert match is not None
        change, when = match.group(1), match.group(2)
        team = await self._channel_team(turn)
        if isinstance(team, str):
            return Reply(send=[_note(team)])
        if not await self.access.decide_manage(turn.identity, team, f"huddle.{change}"):
            return Reply(send=[_note(NOT_A_LEAD)])
        found = await self.admin.schedules(team.team_id)
        if len(found) != 1:
            say = "No huddle schedules yet." if not found else f"Choose the schedule to {change}."
            return Reply(send=[await self._schedules(turn, team, say)])
        skip_on = None
        if change == "skip" and when:
            try:
                skip_on = parse_date(when, today=self._today(found[0]))
            except PreferencesError as exc:
                return Reply(send=[await self._schedules(turn, team, f"{exc} Nothing changed.")])
        note = await self._change(turn, found[0].id, change, skip_on)
        return Reply(send=[await self._schedules(turn, team, note)])

    async def huddles_text(self, turn: Turn, _text: str) -> Reply:
        return Reply(send=[await self._schedules(turn, None)])

    async def tree_text(self, turn: Turn, _text: str) -> Reply:
        if not await self.access.decide_improvement(turn.identity, "team.tree"):
            return Reply(send=[_note(NOT_IMPROVEMENT)])
        return Reply(send=[await self._tree()])

    # -- card actions ---------------------------------------------------------------------

    async def on_form(self, turn: Turn, action: HuddleScheduleFormAction) -> Reply:
        team = await self._team(action.team)
        if isinstance(team, str):
            return Reply(send=[_note(team)])
        if not await self.access.decide_manage(turn.identity, team, "huddle.form"):
            return Reply(send=[_note(NOT_A_LEAD)])
        return Reply(send=[await self._form(team)])

    async def on_save(self, turn: Turn, action: HuddleScheduleSaveAction) -> Reply:
        team = await self._team(action.team)
        if isinstance(team, str):
            return _refused(turn, team)
        if not await self.access.decide_manage(turn.identity, team, "huddle.schedule"):
            return _refused(turn, NOT_A_LEAD)
        channels = {c.value: c.title for c in await self._channels(team)}
        try:
            spec = self._spec(team, action, channels)
            schedule_id = await self.admin.create(spec, actor=actor_of(turn.identity))
        except (HuddleError, ScheduleError, ValueError) as exc:
            note = f"{str(exc).rstrip('.')}. Nothing was saved."
            return Reply(replace=await self._form(team, note, action))
        info, _team = await self.admin.schedule(schedule_id)
        note = f"✓ {info.name} saved. {self.admin.line(info).state}."
        scope_team = team if turn.scope == "channel" else None
        return Reply(replace=await self._schedules(turn, scope_team, note))

    async def on_pause(self, turn: Turn, action: HuddlePauseAction) -> Reply:
        return await self._change_card(turn, action, "pause")

    async def on_resume(self, turn: Turn, action: HuddleResumeAction) -> Reply:
        return await self._change_card(turn, action, "resume")

    async def on_skip(self, turn: Turn, action: HuddleSkipAction) -> Reply:
        return await self._change_card(turn, action, "skip")

    async def on_delete(self, turn: Turn, action: HuddleDeleteAction) -> Reply:
        return await self._change_card(turn, action, "delete")

    async def on_parent(self, turn: Turn, action: TeamParentAction) -> Reply:
        if not await self.access.decide_improvement(turn.identity, "team.parent"):
            return _refused(turn, NOT_IMPROVEMENT)
        if not action.team:
            return Reply(replace=await self._tree("Choose a team first. Nothing was changed."))
        parent = None if action.parent in (None, "none") else action.parent
        try:
            said = await self.admin.set_parent(action.team, parent, actor=actor_of(turn.identity))
        except HuddleError as exc:
            return Reply(replace=await self._tree(f"{str(exc).capitalize()}. Nothing changed."))
        return Reply(replace=await self._tree(f"✓ {said}."))

    # -- helpers --------------------------------------------------------------------------

    async def _change_card(
        self, turn: Turn, action: HuddleScheduleChangeAction, change: str
    ) -> Reply:
        scope_team = await self._channel_team(turn) if turn.scope == "channel" else None
        team_or_none = scope_team if isinstance(scope_team, Team) else None
        if action.schedule is None:
            note = "Choose a schedule first. Nothing was changed."
            return Reply(replace=await self._schedules(turn, team_or_none, note))
        try:
            info, team = await self.admin.schedule(action.schedule)
        except HuddleError as exc:
            return Reply(replace=await self._schedules(turn, team_or_none, f"{exc}."))
        if team_or_none is not None and team.id != team_or_none.id:
            return _refused(turn, "That schedule is another team's. Nothing was changed.")
        if not await self.access.decide_manage(turn.identity, team, f"huddle.{change}"):
            return _refused(turn, NOT_A_LEAD)
        skip_on = None
        if change == "skip" and action.skip_on:
            try:
                skip_on = date.fromisoformat(action.skip_on)
            except ValueError:
                note = f"I couldn't read the date '{action.skip_on}'. Nothing was changed."
                return Reply(replace=await self._schedules(turn, team_or_none, note))
        note = await self._change(turn, info.id, change, skip_on)
        return Reply(replace=await self._schedules(turn, team_or_none, note))

    async def _change(self, turn: Turn, schedule_id: int, change: str, day: date | None) -> str:
        actor = actor_of(turn.identity)
        try:
            info = await self.admin.change(schedule_id, change, actor=actor, skip_on=day)
        except HuddleError as exc:
            return f"{str(exc).capitalize()}. Nothing was changed."
        if change == "skip":
            skipped = info.skip_dates[-1] if day is None else day.isoformat()
            return f"✓ {info.name} will skip {skipped}."
        return f"✓ {info.name} {DONE[change]}."

    def _spec(
        self, team: Team, action: HuddleScheduleSaveAction, channels: dict[str, str]
    ) -> ScheduleSpec:
        channel = action.channel or ""
        if channel and channel not in channels:
            raise HuddleError("choose one of the team's channels")
        return ScheduleSpec(
            team_id=team.team_id,
            name=action.name or "",
            format_id=action.format or "",
            days=parse_days(action.days or ""),
            at=parse_time(action.at or ""),
            zone=(action.zone or self.services.options.zone.key).strip(),
            skip_bank_holidays=action.bank_holidays != "false",
            lead_minutes=int(action.lead_minutes or 5),
            channel_id=None if channel in ("", team.team_id) else channel,
            channel_name=channels.get(channel, "General"),
        )

    async def _channel_team(self, turn: Turn) -> Team | str:
        if turn.scope != "channel" or not turn.team_id:
            return IN_A_CHANNEL
        return await self._team(turn.team_id)

    async def _team(self, team_id: str | None) -> Team | str:
        if not team_id:
            return "Choose a team first. Nothing was changed."
        try:
            return await self.admin.team(team_id)
        except HuddleError:
            return "I'm not in that team: add me to it first (Apps, then Add to a team)."

    async def _channels(self, team: Team) -> tuple[Choice, ...]:
        # Every choice has a value (an empty one is no choice to a card renderer): General's
        # is its own id, the team's, which _spec reads as the team's General channel.
        found = await self.admin.channels(team)
        return tuple(Choice(c.id, c.name) for c in found)

    async def _form(
        self, team: Team, notice: str | None = None, typed: HuddleScheduleSaveAction | None = None
    ) -> Card:
        channels = await self._channels(team)
        if typed is not None and typed.channel:
            channels = tuple(sorted(channels, key=lambda c: c.value != typed.channel))
        formats = tuple(
            Choice(f.id, f"{f.name}: {f.description}") for f in self.services.formats.formats
        )
        view = ScheduleFormView(
            teams=(Choice(team.team_id, team.name or team.team_id),),
            channels=channels,
            formats=formats,
            zone=(typed.zone if typed and typed.zone else self.services.options.zone.key),
            days=(typed.days if typed and typed.days else "mon,tue,wed,thu,fri"),
            at=(typed.at if typed and typed.at else "09:00"),
            lead_minutes=_minutes(typed.lead_minutes if typed else None),
            notice=notice,
            name=(typed.name or "") if typed else "",
            format_id=(typed.format or "") if typed else "",
            skip_bank_holidays=typed is None or typed.bank_holidays != "false",
        )  # fmt: skip
        return schedule_cards.schedule_form_card(view)

    async def _schedules(self, turn: Turn, team: Team | None, notice: str | None = None) -> Card:
        """A team's schedules (in its channel), or those of every team the person leads."""
        if team is not None:
            teams = [team]
        else:
            teams = await self.access.teams_led_by(turn.identity)
        infos: list[ScheduleInfo] = []
        for each in teams:
            infos += await self.admin.schedules(each.team_id)
        title = f"Huddles: {team.name}" if team is not None else "Huddles of your teams"
        if team is None and not teams:
            notice = notice or (
                "You don't lead a team's huddles here. A team's owners in Teams lead its "
                "huddles, and the improvement team can name other leads."
            )
        view = SchedulesView(
            title=title,
            lines=tuple(self.admin.line(i) for i in infos),
            can_add=bool(teams),
            notice=notice,
            team_id=team.team_id if team is not None else None,
        )
        choices = tuple(Choice(t.team_id, t.name or t.team_id) for t in teams)
        return schedule_cards.schedules_card(view, choices)

    async def _tree(self, notice: str | None = None) -> Card:
        ordered = await self.admin.tree()
        view = TreeView(
            lines=tuple(TreeLine(t.name or t.team_id, depth) for t, depth in ordered),
            teams=tuple(Choice(t.team_id, t.name or t.team_id) for t, _ in ordered),
            notice=notice,
        )
        return schedule_cards.tree_card(view)

    def _today(self, info: ScheduleInfo) -> date:
        return self.clock().astimezone(ZoneInfo(info.zone)).date()


def _minutes(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 5


def _refused(turn: Turn, message: str) -> Reply:
    note = _note(message)
    return Reply(replace=note) if turn.invoked else Reply(send=[note])
