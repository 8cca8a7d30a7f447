"""Huddle schedules, named leads and the team tree, the same from Teams (bot.dialogs.huddles)
and from the CLI (cli.huddles, cli.teams): each method is one unit of work, audited in the
store. Who may act is decided by the caller (huddles.services.access: leads and the improvement
team for schedules, the improvement team for leads and the tree) and audited there too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.huddle_formats import HuddleFormats
from framework.identity import TeamChannel
from huddles.rules.schedule import next_to_post, parse_days
from huddles.rules.views import ScheduleLine
from huddles.services.ports import ChannelReader
from rounds.rules.written import describe_days
from store.db import Database
from store.huddles import schedules as store
from store.huddles import tree
from store.huddles.occurrences import HistoryRow, history, last_posted_dates
from store.huddles.schedules import HuddleError, ScheduleSpec, timing_of
from store.huddles.tables import HuddleSchedule
from store.teams import Team, installed_teams

__all__ = ["HuddleError", "ScheduleAdmin", "ScheduleInfo", "ScheduleSpec"]

CHANGES = ("pause", "resume", "skip", "delete")


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule as lists show it (the CLI's `huddles list`, the schedules card)."""

    id: int
    team_id: str
    team_name: str
    name: str
    format_id: str
    days: str
    at: str
    zone: str
    skip_bank_holidays: bool
    lead_minutes: int
    channel_id: str | None
    channel_name: str
    paused: bool
    skip_dates: tuple[str, ...]
    next_post_at: datetime | None
    next_huddle_date: date | None


def _info(
    schedule: HuddleSchedule, team: Team, now: datetime, last_posted: date | None
) -> ScheduleInfo:
    """`next_post_at` is the prompt the scheduler will post next (the job source's rule), so it
    is in the past while today's prompt is due but not yet posted."""
    assert schedule.id is not None
    timing = timing_of(schedule)
    coming = next_to_post(timing, now, last_posted)
    return ScheduleInfo(
        id=schedule.id,
        team_id=team.team_id,
        team_name=team.name,
        name=schedule.name,
        format_id=schedule.format_id,
        days=schedule.days,
        at=schedule.at,
        zone=schedule.zone,
        skip_bank_holidays=schedule.skip_bank_holidays,
        lead_minutes=schedule.lead_minutes,
        channel_id=schedule.channel_id,
        channel_name=schedule.channel_name,
        paused=schedule.paused,
        skip_dates=tuple(d.isoformat() for d in sorted(timing.skip_dates)),
        next_post_at=None if coming is None else coming.post_at,
        next_huddle_date=None if coming is None else coming.local_date,
    )


def _id(schedule: HuddleSchedule) -> int:
    assert schedule.id is not None
    return schedule.id


def _last_posted(session: Session, schedule: HuddleSchedule) -> date | None:
    return last_posted_dates(session, [_id(schedule)]).get(_id(schedule))


class ScheduleAdmin:
    def __init__(
        self,
        db: Database,
        formats: HuddleFormats,
        clock: Callable[[], datetime],
        channels: ChannelReader | None = None,
    ) -> None:
        self.db = db
        self.formats = formats
        self.clock = clock
        self.channel_reader = channels

    # -- reading ------------------------------------------------------------------------------

    async def schedules(self, team_id: str | None = None) -> list[ScheduleInfo]:
        now = self.clock()

        def read(session: Session) -> list[ScheduleInfo]:
            team = store.team_by_teams_id(session, team_id) if team_id else None
            rows = store.schedules(session, None if team is None else team.id)
            posted = last_posted_dates(session)
            return [_info(s, owner, now, posted.get(_id(s))) for s, owner in rows]

        return await self.db.run(read)

    async def schedule(self, schedule_id: int) -> tuple[ScheduleInfo, Team]:
        now = self.clock()

        def read(session: Session) -> tuple[ScheduleInfo, Team]:
            schedule = store.get_schedule(session, schedule_id)
            team = session.get(Team, schedule.team_id)
            assert team is not None
            return _info(schedule, team, now, _last_posted(session, schedule)), team

        return await self.db.run(read)

    async def team(self, team_id: str) -> Team:
        return await self.db.run(lambda s: store.team_by_teams_id(s, team_id))

    async def teams(self) -> list[Team]:
        return await self.db.run(installed_teams)

    async def channels(self, team: Team) -> list[TeamChannel]:
        """The team's channels from Teams (General first); just General if Teams won't say."""
        general = TeamChannel(team.team_id, "General")
        if self.channel_reader is None:
            return [general]
        try:
            found = await self.channel_reader.channels(team.team_id, team.reference)
        except Exception:
            return [general]
        named = [TeamChannel(c.id, c.name or "General") for c in found if c.id]
        named.sort(key=lambda c: (c.id != team.team_id, c.name.lower()))
        return named or [general]

    async def history(self, team_id: str) -> tuple[Team, list[HistoryRow]]:
        def read(session: Session) -> tuple[Team, list[HistoryRow]]:
            team = store.team_by_teams_id(session, team_id)
            assert team.id is not None
            return team, history(session, team.id)

        return await self.db.run(read)

    def line(self, info: ScheduleInfo) -> ScheduleLine:
        """How the schedules card shows one schedule."""
        try:
            format_name = self.formats.format(info.format_id).name
        except KeyError:
            format_name = info.format_id
        days = describe_days(parse_days(info.days))
        if info.paused:
            state = "Paused"
        elif info.next_post_at is None:
            state = "No huddles to come"
        else:
            local = info.next_post_at.astimezone(timing_zone(info))
            state = f"Next prompt {local:%A} {local.day} {local:%B} at {local:%H:%M}"
            if info.next_post_at <= self.clock():
                state = f"Prompt due now (was due at {local:%H:%M})"
        return ScheduleLine(
            id=info.id,
            name=info.name,
            team_name=info.team_name,
            format_name=format_name,
            when=f"{days} at {info.at} ({info.zone})",
            channel=info.channel_name or "General",
            state=state,
        )

    # -- changing -----------------------------------------------------------------------------

    async def create(self, spec: ScheduleSpec, *, actor: str) -> int:
        if spec.format_id not in self.formats.ids:
            have = ", ".join(self.formats.ids)
            raise HuddleError(f"there is no huddle format '{spec.format_id}' (have: {have})")
        now = self.clock()

        def create(session: Session) -> int:
            schedule = store.create_schedule(session, spec, actor=actor, now=now)
            assert schedule.id is not None
            return schedule.id

        return await self.db.run(create)

    async def change(
        self, schedule_id: int, change: str, *, actor: str, skip_on: date | None = None
    ) -> ScheduleInfo:
        """pause | resume | skip (`skip_on`, default the next huddle) | delete."""
        if change not in CHANGES:
            raise HuddleError(f"unknown change '{change}'")
        now = self.clock()

        def work(session: Session) -> ScheduleInfo:
            day = skip_on
            current = store.get_schedule(session, schedule_id)
            posted = _last_posted(session, current)  # a change does not post: read once
            if change == "skip" and day is None:
                coming = next_to_post(timing_of(current), now, posted)
                if coming is None:
                    raise HuddleError("there is no huddle to come to skip")
                day = coming.local_date
            schedule = store.change_schedule(
                session, schedule_id, change, actor=actor, now=now, skip_on=day
            )
            team = session.get(Team, schedule.team_id)
            assert team is not None
            return _info(schedule, team, now, posted)

        return await self.db.run(work)

    async def add_lead(self, team_id: str, person: str, *, actor: str) -> bool:
        now = self.clock()
        return await self.db.run(lambda s: store.add_lead(s, team_id, person, actor=actor, now=now))

    async def remove_lead(self, team_id: str, person: str, *, actor: str) -> bool:
        now = self.clock()
        return await self.db.run(
            lambda s: store.remove_lead(s, team_id, person, actor=actor, now=now)
        )

    async def leads(self) -> list[tuple[str, str]]:
        return await self.db.run(store.all_named_leads)

    async def set_parent(self, team_id: str, parent_id: str | None, *, actor: str) -> str:
        """Link a team under another (None: make it a top team); a sentence saying what now."""
        now = self.clock()

        def work(session: Session) -> str:
            team, parent = tree.set_parent(session, team_id, parent_id, actor=actor, now=now)
            name = team.name or team.team_id
            if parent is None:
                return f"{name} is now a top team"
            return f"{name} now escalates to {parent.name or parent.team_id}"

        return await self.db.run(work)

    async def parents(self) -> dict[int, int | None]:
        """Each linked team's parent (teams.id → teams.id)."""
        return await self.db.run(tree.parent_map)

    async def tree(self) -> list[tuple[Team, int]]:
        """Every installed team with its depth in the tree, parents before their children."""
        return await self.db.run(_tree)


def timing_zone(info: ScheduleInfo) -> ZoneInfo:
    return ZoneInfo(info.zone)


def _tree(session: Session) -> list[tuple[Team, int]]:
    teams = installed_teams(session)
    parents = tree.parent_map(session)
    ids = {team.id for team in teams}
    children: dict[int | None, list[Team]] = {}
    for team in teams:
        parent = parents.get(team.id or 0)
        children.setdefault(parent if parent in ids else None, []).append(team)
    ordered: list[tuple[Team, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for team in children.get(parent, []):
            if any(team is seen for seen, _ in ordered):
                continue
            ordered.append((team, depth))
            walk(team.id, depth + 1)

    walk(None, 0)
    return ordered
