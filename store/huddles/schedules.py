"""Huddle schedules and named leads as stored: creating, reading and changing them.

Functions take an open session (one transaction). Who may change a schedule is decided by the
caller (huddles.services.access) and audited there; the changes are audited here, like rounds'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlmodel import Session, col, select

from huddles.rules.schedule import HuddleTiming, ScheduleError, format_days, parse_days
from store.audit import audit
from store.huddles.tables import HuddleLead, HuddleSchedule
from store.teams import Team, installed_team

MAX_NAME = 200


class HuddleError(ValueError):
    """A huddle change that can't be made as asked; the message says why, in one line."""


@dataclass(frozen=True)
class ScheduleSpec:
    """A new schedule, as the form or the CLI gives it (already read: days, time)."""

    team_id: str  # Teams' id of the team
    name: str
    format_id: str
    days: frozenset[int]
    at: time
    zone: str
    skip_bank_holidays: bool = True
    lead_minutes: int = 5
    channel_id: str | None = None  # None: the team's General channel
    channel_name: str = ""


def timing_of(schedule: HuddleSchedule) -> HuddleTiming:
    """The schedule as the timing rules read it."""
    hours, minutes = schedule.at.split(":")
    return HuddleTiming(
        days=parse_days(schedule.days) if schedule.days else frozenset(),
        at=time(int(hours), int(minutes)),
        zone=schedule.zone,
        skip_bank_holidays=schedule.skip_bank_holidays,
        lead_minutes=schedule.lead_minutes,
        paused=schedule.paused,
        skip_dates=skip_dates_of(schedule),
    )


def skip_dates_of(schedule: HuddleSchedule) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for d in schedule.skip_dates.split(",") if d)


def team_by_teams_id(session: Session, team_id: str) -> Team:
    team = installed_team(session, team_id)
    if team is None:
        raise HuddleError(
            f"the bot is not installed in the team {team_id} (see `impact-bot teams list`)"
        )
    return team


def create_schedule(
    session: Session, spec: ScheduleSpec, *, actor: str, now: datetime
) -> HuddleSchedule:
    name = " ".join(spec.name.split())
    if not name or len(name) > MAX_NAME:
        raise HuddleError(f"a huddle needs a name of 1 to {MAX_NAME} characters")
    if not spec.days:
        raise HuddleError("choose at least one day of the week")
    try:  # the same checks as the timing rules make (zone, lead time)
        HuddleTiming(spec.days, spec.at, spec.zone, spec.skip_bank_holidays, spec.lead_minutes)
    except ScheduleError as exc:
        raise HuddleError(str(exc).rstrip(".")) from None
    team = team_by_teams_id(session, spec.team_id)
    assert team.id is not None
    schedule = HuddleSchedule(
        team_id=team.id,
        channel_id=spec.channel_id or None,
        channel_name=spec.channel_name[:256],
        name=name,
        format_id=spec.format_id,
        days=format_days(spec.days),
        at=f"{spec.at:%H:%M}",
        zone=spec.zone,
        skip_bank_holidays=spec.skip_bank_holidays,
        lead_minutes=spec.lead_minutes,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    session.flush()
    audit(session, actor=actor, action="huddle.schedule", target=f"huddle_schedule:{schedule.id}",
          detail={"team": spec.team_id, "days": schedule.days, "at": schedule.at,
                  "zone": spec.zone, "format": spec.format_id}, now=now)  # fmt: skip
    return schedule


def get_schedule(session: Session, schedule_id: int) -> HuddleSchedule:
    """A schedule that has not been deleted; HuddleError otherwise."""
    schedule = session.get(HuddleSchedule, schedule_id)
    if schedule is None or schedule.deleted_at is not None:
        raise HuddleError(f"there is no huddle schedule {schedule_id}")
    return schedule


def schedules(session: Session, team_id: int | None = None) -> list[tuple[HuddleSchedule, Team]]:
    """Schedules not deleted, with their team, by team name then id; one team's if given."""
    query = (
        select(HuddleSchedule, Team)
        .join(Team, col(Team.id) == col(HuddleSchedule.team_id))
        .where(col(HuddleSchedule.deleted_at).is_(None))
    )
    if team_id is not None:
        query = query.where(HuddleSchedule.team_id == team_id)
    rows = session.exec(query.order_by(col(Team.name), col(HuddleSchedule.id))).all()
    return [(schedule, team) for schedule, team in rows]


def active_schedules(session: Session) -> list[tuple[HuddleSchedule, Team]]:
    """Schedules the scheduler has work for: not deleted, not paused, in a team the bot is
    still installed in."""
    return [
        (schedule, team)
        for schedule, team in schedules(session)
        if not schedule.paused and team.installed
    ]


def change_schedule(
    session: Session,
    schedule_id: int,
    change: str,
    *,
    actor: str,
    now: datetime,
    skip_on: date | None = None,
) -> HuddleSchedule:
    """`pause`, `resume`, `skip` (the date `skip_on`) or `delete`, audited."""
    schedule = get_schedule(session, schedule_id)
    detail: dict[str, object] = {}
    if change == "pause":
        schedule.paused = True
    elif change == "resume":
        schedule.paused = False
    elif change == "skip":
        if skip_on is None:
            raise HuddleError("say which date to skip")
        today = now.astimezone(timing_of(schedule).tz).date()
        kept = {d for d in skip_dates_of(schedule) if d >= today} | {skip_on}
        schedule.skip_dates = ",".join(d.isoformat() for d in sorted(kept))
        detail["date"] = skip_on.isoformat()
    elif change == "delete":
        schedule.deleted_at = now
    else:  # pragma: no cover - callers pass one of the four
        raise ValueError(change)
    schedule.updated_at = now
    audit(session, actor=actor, action=f"huddle.{change}",
          target=f"huddle_schedule:{schedule_id}", detail=detail, now=now)  # fmt: skip
    return schedule


# ---- named leads ----------------------------------------------------------------------------


def add_lead(session: Session, team_id: str, person: str, *, actor: str, now: datetime) -> bool:
    """Name `person` (Teams id or Entra object id) lead of the team; False if they already are."""
    person = person.strip()
    if not person or len(person) > 256:
        raise HuddleError("give the person's Teams id (29:…) or Entra object id")
    team = team_by_teams_id(session, team_id)
    assert team.id is not None
    exists = session.exec(
        select(HuddleLead.id).where(HuddleLead.team_id == team.id, HuddleLead.person == person)
    ).first()
    audit(session, actor=actor, action="huddle.lead.add", target=f"team:{team_id}",
          detail={"person": person}, now=now)  # fmt: skip
    if exists is not None:
        return False
    session.add(HuddleLead(team_id=team.id, person=person, added_by=actor, added_at=now))
    session.flush()
    return True


def remove_lead(session: Session, team_id: str, person: str, *, actor: str, now: datetime) -> bool:
    team = team_by_teams_id(session, team_id)
    removed = session.execute(
        sa.delete(HuddleLead).where(
            col(HuddleLead.team_id) == team.id, col(HuddleLead.person) == person.strip()
        )
    )
    audit(session, actor=actor, action="huddle.lead.remove", target=f"team:{team_id}",
          detail={"person": person}, now=now)  # fmt: skip
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def named_leads(session: Session, team_id: int) -> list[str]:
    """The ids (Teams or Entra) of the people named lead of this team."""
    return list(
        session.exec(
            select(HuddleLead.person)
            .where(HuddleLead.team_id == team_id)
            .order_by(col(HuddleLead.id))
        ).all()
    )


def all_named_leads(session: Session) -> list[tuple[str, str]]:
    """(Teams id of the team, person id) for every named lead, for `leads list`."""
    rows = session.exec(
        select(Team.team_id, HuddleLead.person)
        .join(Team, col(Team.id) == col(HuddleLead.team_id))
        .order_by(col(Team.name), col(HuddleLead.id))
    ).all()
    return [(team, person) for team, person in rows]


def teams_naming_lead(session: Session, ids: tuple[str, ...]) -> list[int]:
    """The teams (ids) where any of these person ids is a named lead."""
    wanted = [i for i in ids if i]
    if not wanted:
        return []
    return list(
        session.exec(
            select(HuddleLead.team_id).where(col(HuddleLead.person).in_(wanted)).distinct()
        ).all()
    )
