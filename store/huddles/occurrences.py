"""Posted huddles: claiming one (so its prompt is posted once), attendance, whether it was held,
and the history and figures read back for cards, digests and question 18 evidence."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from huddles.rules.digest import HuddleRecord, HuddleStatus
from store.huddles.tables import Huddle, HuddleAttendance, HuddleSchedule
from store.outbox import utc
from store.teams import Team

_huddles: sa.Table = Huddle.__table__  # type: ignore[attr-defined]
_attendance: sa.Table = HuddleAttendance.__table__  # type: ignore[attr-defined]


def dialect_insert(session: Session, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT for this session's database, so `on_conflict_do_nothing` is available."""
    if session.connection().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def last_posted_dates(
    session: Session, schedule_ids: Collection[int] | None = None
) -> dict[int, date]:
    """Each schedule's latest local date with a scheduled prompt posted (slot 0): of every
    schedule, or only of `schedule_ids`."""
    query = (
        select(Huddle.schedule_id, sa.func.max(Huddle.local_date))
        .where(Huddle.slot == 0)
        .group_by(col(Huddle.schedule_id))
    )
    if schedule_ids is not None:
        query = query.where(col(Huddle.schedule_id).in_(sorted(schedule_ids)))
    rows = session.exec(query).all()
    return {schedule_id: day for schedule_id, day in rows if day is not None}


@dataclass(frozen=True)
class Claim:
    """A huddle to post: which schedule, date and slot, when it starts, where it goes."""

    schedule_id: int
    team_id: int
    local_date: date
    slot: int
    huddle_at: datetime
    conversation_id: str
    prompt_key: str


def claim(session: Session, wanted: Claim, now: datetime) -> int | None:
    """Insert the huddle row; its id, or None if that schedule, date and slot already has one
    (another process, or an earlier run, posted it). INSERT … ON CONFLICT DO NOTHING, so two
    transactions racing for the same huddle leave exactly one row and one prompt."""
    values = {
        "schedule_id": wanted.schedule_id,
        "team_id": wanted.team_id,
        "local_date": wanted.local_date,
        "slot": wanted.slot,
        "huddle_at": utc(wanted.huddle_at),
        "posted_at": utc(now),
        "conversation_id": wanted.conversation_id,
        "prompt_key": wanted.prompt_key,
        "status": HuddleStatus.PENDING.value,
    }
    statement = (
        dialect_insert(session, _huddles)
        .values(values)
        .on_conflict_do_nothing()
        .returning(_huddles.c.id)
    )
    row = session.connection().execute(statement).first()
    return None if row is None else int(row[0])


def next_slot(session: Session, schedule_id: int, local_date: date) -> int:
    """The slot for one more unscheduled huddle on this date (1, 2, …)."""
    highest = session.exec(
        select(sa.func.max(Huddle.slot)).where(
            Huddle.schedule_id == schedule_id, Huddle.local_date == local_date
        )
    ).one()
    return max(int(highest or 0), 0) + 1


def get_huddle(session: Session, huddle_id: int) -> tuple[Huddle, HuddleSchedule, Team] | None:
    row = session.exec(
        select(Huddle, HuddleSchedule, Team)
        .join(HuddleSchedule, col(HuddleSchedule.id) == col(Huddle.schedule_id))
        .join(Team, col(Team.id) == col(Huddle.team_id))
        .where(Huddle.id == huddle_id)
    ).first()
    if row is None:
        return None
    huddle, schedule, team = row
    return huddle, schedule, team


# ---- attendance and the outcome -------------------------------------------------------------


def add_attendance(session: Session, huddle_id: int, person_id: int, now: datetime) -> bool:
    """Count this person at this huddle; False if they were counted already."""
    statement = (
        dialect_insert(session, _attendance)
        .values(huddle_id=huddle_id, person_id=person_id, at=utc(now))
        .on_conflict_do_nothing()
        .returning(_attendance.c.huddle_id)
    )
    return session.connection().execute(statement).first() is not None


def attendance_count(session: Session, huddle_id: int) -> int:
    return int(
        session.exec(
            select(sa.func.count())
            .select_from(HuddleAttendance)
            .where(HuddleAttendance.huddle_id == huddle_id)
        ).one()
    )


def record_outcome(
    session: Session, huddle_id: int, status: HuddleStatus, note: str | None, person_id: int,
    now: datetime,
) -> bool:  # fmt: skip
    """Held or not held, once (compare-and-set from pending); False if already recorded."""
    moved = session.execute(
        sa.update(Huddle)
        .where(col(Huddle.id) == huddle_id, col(Huddle.status) == HuddleStatus.PENDING.value)
        .values(status=status.value, note=note, recorded_by=person_id, recorded_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


# ---- history and figures --------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    huddle_id: int
    schedule_id: int
    schedule_name: str
    local_date: date
    slot: int
    huddle_at: datetime
    status: str
    attendance: int
    note: str | None


def _attendance_counts() -> sa.Subquery:
    return (
        select(HuddleAttendance.huddle_id, sa.func.count().label("present"))
        .group_by(col(HuddleAttendance.huddle_id))
        .subquery()
    )


def history(
    session: Session, team_id: int, since: date | None = None, until: date | None = None
) -> list[HistoryRow]:
    """A team's posted huddles, newest first, with attendance."""
    counts = _attendance_counts()
    query = (
        sa.select(
            col(Huddle.id),
            col(Huddle.schedule_id),
            col(HuddleSchedule.name),
            col(Huddle.local_date),
            col(Huddle.slot),
            col(Huddle.huddle_at),
            col(Huddle.status),
            sa.func.coalesce(counts.c.present, 0),
            col(Huddle.note),
        )
        .join(HuddleSchedule, col(HuddleSchedule.id) == col(Huddle.schedule_id))
        .outerjoin(counts, counts.c.huddle_id == col(Huddle.id))
        .where(col(Huddle.team_id) == team_id)
    )
    if since is not None:
        query = query.where(col(Huddle.local_date) >= since)
    if until is not None:
        query = query.where(col(Huddle.local_date) <= until)
    rows = session.execute(query.order_by(col(Huddle.huddle_at).desc(), col(Huddle.id).desc()))
    return [HistoryRow(*row) for row in rows.all()]


def huddle_records(session: Session, team_id: int, since: date, until: date) -> list[HuddleRecord]:
    """The team's huddles in since..until as the digest rules count them."""
    return [
        HuddleRecord(row.local_date, HuddleStatus(row.status), row.attendance)
        for row in history(session, team_id, since, until)
    ]
