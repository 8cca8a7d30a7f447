"""The queries of the round steps (rounds.services.steps): which rounds are due, who is waiting
for a nudge, the moves that close a round and schedule its successor. Each takes the caller's
session (one transaction)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from store.assessments.tables import Assessment
from store.bulk import among, json_records, select_pairs
from store.outbox import OutboxMessage, Queued, enqueue_many
from store.people import Person
from store.rounds.tables import (
    NudgePreference,
    Round,
    RoundParticipant,
    RoundParticipantTeam,
    RoundTeam,
)
from store.teams import Team


def due_to_close(session: Session, now: datetime) -> list[int]:
    ids = session.exec(
        select(Round.id).where(Round.status == "open", col(Round.closes_at) <= now)
    ).all()
    return [i for i in ids if i is not None]


def mark_closed(session: Session, round_id: int, now: datetime) -> Round | None:
    """Move an open round to closed (compare-and-set on the status and the closing time); None
    if another process closed it first, it was cancelled, or it was extended meanwhile."""
    moved = session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.status) == "open", col(Round.closes_at) <= now)
        .values(status="closed", closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    round_ = session.get(Round, round_id)
    assert round_ is not None
    session.refresh(round_)
    return round_


def summaries_to_queue(session: Session) -> list[int]:
    """Closed rounds whose summaries are still to be queued."""
    ids = session.exec(
        select(Round.id).where(
            Round.status == "closed",
            col(Round.closed_at).is_not(None),
            col(Round.summaries_queued_at).is_(None),
        )
    ).all()
    return [i for i in ids if i is not None]


def record_summaries(
    session: Session, round_id: int, messages: Sequence[Queued], now: datetime
) -> int:
    """Queue the last of a closed round's summaries and mark them all queued; how many were
    new. The earlier ones were queued in transactions of their own (`enqueue_many`), and their
    charts stored before them (`save_charts`). The messages go first, so that on SQLite their
    values are bound before the write lock is taken. Each has its own dedupe key, so a second
    process finishing the same close queues nothing twice; the mark is a compare-and-set."""
    queued = enqueue_many(session, messages, now=now)
    session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.summaries_queued_at).is_(None))
        .values(summaries_queued_at=now)
        .execution_options(synchronize_session=False)
    )
    return queued


def pending_nudges(session: Session, round_id: int) -> tuple[list[int], int]:
    """The ids of a round's nudges still waiting to be sent, in order, and the highest id of any
    message then (a read: the close reads them beside the writer, then cancels them by id a
    batch a transaction)."""
    ids = session.exec(
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.round_id) == round_id,
            col(OutboxMessage.kind) == "nudge",
            col(OutboxMessage.status) == "pending",
        )
        .order_by(col(OutboxMessage.id))
    ).all()
    highest = session.exec(select(sa.func.max(OutboxMessage.id))).one()
    return [i for i in ids if i is not None], int(highest or 0)


def cancel_nudges(session: Session, ids: Sequence[int]) -> int:
    """Cancel those of these nudges still pending (by primary key: the write finds them without
    reading the round's other messages); how many were cancelled."""
    return _cancel_pending_nudges(session, col(OutboxMessage.id).in_(ids))


def cancel_pending_nudges(session: Session, round_id: int, *, after: int = 0) -> int:
    """A closing round sends no more nudges: cancel its pending ones with an id over `after`;
    how many were cancelled. The index on the round finds them by id range within the round,
    so a close that cancelled the rest a batch a transaction (`cancel_nudges`) passes the
    highest id its read saw, and reads none of the round's other messages here. Only where ids
    are given in commit order (SQLite, one writer at a time): a PostgreSQL sequence value is
    taken before its row commits, so a row committed later may have a lower id."""
    return _cancel_pending_nudges(
        session, col(OutboxMessage.round_id) == round_id, col(OutboxMessage.id) > after
    )


def _cancel_pending_nudges(session: Session, *where: sa.ColumnElement[bool]) -> int:
    result = session.connection().execute(
        sa.update(OutboxMessage)
        .where(
            *where,
            col(OutboxMessage.kind) == "nudge",
            col(OutboxMessage.status) == "pending",
        )
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def add_successor(
    session: Session, round_: Round, opens_at: datetime, now: datetime
) -> Round | None:
    """The next round of a repeating series: same teams, plan and length, opening at
    `opens_at`. None if it already has one (another leader added it first: the unique index
    on previous_round_id refuses a second; only this savepoint is rolled back)."""
    try:
        with session.begin_nested():
            return _add_successor(session, round_, opens_at, now)
    except sa.exc.IntegrityError:
        return None


def _add_successor(session: Session, round_: Round, opens_at: datetime, now: datetime) -> Round:
    following = Round(
        name=round_.name,
        framework_id=round_.framework_id,
        framework_version=round_.framework_version,
        status="scheduled",
        opens_at=opens_at,
        closes_at=opens_at + (round_.closes_at - round_.opens_at),
        reminder_plan=round_.reminder_plan,
        role_question=round_.role_question,
        repeat_every=round_.repeat_every,
        previous_round_id=round_.id,
        created_by="scheduler",
        created_at=now,
        updated_at=now,
    )
    session.add(following)
    session.flush()
    assert following.id is not None
    teams = session.exec(select(RoundTeam.team_id).where(RoundTeam.round_id == round_.id)).all()
    for team_id in teams:
        session.add(RoundTeam(round_id=following.id, team_id=team_id))
    return following


def waiting_for_successor(session: Session) -> list[Round]:
    """Closed repeating rounds (not paused) that have no next round yet."""
    successor_ids = select(Round.previous_round_id).where(col(Round.previous_round_id).is_not(None))
    return list(
        session.exec(
            select(Round).where(
                Round.status == "closed",
                col(Round.repeat_every).is_not(None),
                col(Round.repeat_paused).is_(False),
                col(Round.id).not_in(successor_ids),
            )
        ).all()
    )


def open_rounds(session: Session) -> list[Round]:
    return list(session.exec(select(Round).where(Round.status == "open")).all())


@dataclass(frozen=True)
class NudgeCandidate:
    """A participant whose `next_nudge_at` has come, with what the nudge rule needs."""

    participant_id: int
    round_id: int
    person_id: int
    tenant_id: str
    time_zone: str | None
    nudges_sent: int
    last_nudged_at: datetime | None
    snoozed_until: datetime | None
    opted_out: bool
    submitted: bool
    next_nudge_at: datetime


@dataclass(frozen=True)
class NudgeOutcome:
    """What the tick decided for one candidate: its new counters and next time to look, and the
    nudge to queue, if any."""

    participant_id: int
    was_next: datetime  # compare-and-set: a change by the person since the read wins
    nudges_sent: int
    last_nudged_at: datetime | None
    next_nudge_at: datetime | None
    message: Queued | None


_participants: sa.Table = RoundParticipant.__table__  # type: ignore[attr-defined]

Position = tuple[datetime, int]  # (next_nudge_at, participant id): where a tick has got to


def position_of(outcome: NudgeOutcome) -> Position:
    """Where the batch that ended with this decision left off."""
    return (outcome.was_next, outcome.participant_id)


def nudge_candidates(
    session: Session, now: datetime, limit: int, *, after: Position | None = None
) -> list[NudgeCandidate]:
    """Participants of open rounds whose next nudge time has come, earliest first (after
    `after`, if given): one query on the (round_id, next_nudge_at) index, so a tick with nobody
    due reads nothing else."""
    p = _participants.c
    statement = (
        sa.select(
            p.id,
            p.round_id,
            p.person_id,
            col(Person.tenant_id),
            col(Person.time_zone),
            p.nudges_sent,
            p.last_nudged_at,
            p.snoozed_until,
            p.opted_out,
            col(Assessment.status),
            p.next_nudge_at,
        )
        .select_from(Round)
        .join(_participants, p.round_id == col(Round.id))
        .join(Person, col(Person.id) == p.person_id)
        .outerjoin(Assessment, col(Assessment.id) == p.assessment_id)
        .where(col(Round.status) == "open", p.next_nudge_at <= now)
        .order_by(p.next_nudge_at, p.id)
        .limit(limit)
    )
    if after is not None:
        at, last = after
        statement = statement.where(
            sa.or_(p.next_nudge_at > at, sa.and_(p.next_nudge_at == at, p.id > last))
        )
    rows = session.execute(statement).all()
    return [
        NudgeCandidate(
            participant_id=row[0],
            round_id=row[1],
            person_id=row[2],
            tenant_id=row[3],
            time_zone=row[4],
            nudges_sent=row[5],
            last_nudged_at=row[6],
            snoozed_until=row[7],
            opted_out=row[8],
            submitted=row[9] == "submitted",
            next_nudge_at=row[10],
        )
        for row in rows
    ]


def anyone_due(session: Session, now: datetime) -> bool:
    """Whether any participant of an open round has a next nudge time that has come: the
    first row of the index `nudge_candidates` reads, without the rest of its join."""
    p = _participants.c
    first = (
        sa.select(p.id)
        .select_from(Round)
        .join(_participants, p.round_id == col(Round.id))
        .where(col(Round.status) == "open", p.next_nudge_at <= now)
        .limit(1)
    )
    return session.execute(first).first() is not None


def preferences_rows(session: Session, person_ids: Sequence[int]) -> dict[int, NudgePreference]:
    dialect = session.get_bind().dialect
    rows = session.exec(
        select(NudgePreference).where(among(col(NudgePreference.person_id), person_ids, dialect))
    ).all()
    return {row.person_id: row for row in rows}


def team_names_of(session: Session, participant_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each participant's round teams by name, in one query."""
    names: dict[int, list[str]] = {}
    participants = col(RoundParticipantTeam.participant_id)
    for participant_id, name in session.execute(
        sa.select(participants, col(Team.name))
        .join(Team, col(Team.id) == col(RoundParticipantTeam.team_id))
        .where(among(participants, participant_ids, session.get_bind().dialect))
        .order_by(col(Team.name))
    ).all():
        names.setdefault(participant_id, []).append(name)
    return {pid: tuple(team_names) for pid, team_names in names.items()}


def record_nudges(session: Session, outcomes: Sequence[NudgeOutcome], now: datetime) -> int:
    """The decisions for a batch, recorded only for those who still have the next time the
    decision was made from (compare-and-set: a snooze or new reminder times saved since win, and
    the next tick looks at them again): their counters and next times, and their nudges queued
    (unique dedupe keys). How many nudges were new.

    On PostgreSQL, two statements: the UPDATE compares and sets and returns whom it moved on,
    then their nudges are queued. On SQLite, three: who still has the time, their nudges,
    their counters (the UPDATE compares again), each one statement stepping through one row
    (no RETURNING: the first reads the pairs as one JSON array, the last takes its rows as
    one): pysqlite lets go of the GIL at every row a statement steps through and at every row
    of an executemany, so 200 rows were 800 hand-offs, each a wait for the GIL with the write
    lock held while the event loop is busy (benchmarks/nudge_record_contention.py: a batch of
    200 took 80-104 ms at the median with another thread wanting the GIL, 5 ms without)."""
    if not outcomes:
        return 0
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        moved = _record_counters_from_records(connection, outcomes)
        kept = (o.message for o in outcomes if o.message and o.participant_id in moved)
        return enqueue_many(session, kept, now=now)
    p = _participants.c
    stored = _stored_form(connection.dialect)
    current = dict(
        select_pairs(
            connection, p.id, p.next_nudge_at, p.id.in_([o.participant_id for o in outcomes])
        )
    )
    kept_outcomes = [o for o in outcomes if current.get(o.participant_id) == stored(o.was_next)]
    if not kept_outcomes:
        return 0
    queued = enqueue_many(session, (o.message for o in kept_outcomes if o.message), now=now)
    _record_counters_in_one_statement(connection, kept_outcomes, stored)
    return queued


def _stored_form(dialect: sa.Dialect) -> Callable[[datetime | None], Any]:
    """SQLite: a time as the database holds it and `select_pairs` reads it back, the text the
    column's own bind processor writes (what the compare-and-set's WHERE compares). PostgreSQL
    compares in the UPDATE itself (`_record_counters_from_records`)."""
    column_type = _participants.c.next_nudge_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


_COUNTERS_FROM_JSON = sa.text(
    "UPDATE round_participants SET nudges_sent = json_extract(j.value, '$[1]'), "
    "last_nudged_at = json_extract(j.value, '$[2]'), "
    "next_nudge_at = json_extract(j.value, '$[3]') "
    "FROM json_each(:rows) AS j "
    "WHERE round_participants.id = json_extract(j.value, '$[0]') "
    "AND round_participants.next_nudge_at = json_extract(j.value, '$[4]')"
)


def _record_counters_in_one_statement(
    connection: sa.Connection, kept: Sequence[NudgeOutcome], stored: Callable[[Any], Any]
) -> None:
    """SQLite: the kept decisions' counters and next times as one UPDATE ... FROM json_each,
    with the same compare-and-set on the time the decision was made from; times in the text
    the column's bind processor writes, so the row reads back as if SQLAlchemy had bound it."""
    rows = [
        [
            o.participant_id,
            o.nudges_sent,
            stored(o.last_nudged_at),
            stored(o.next_nudge_at),
            stored(o.was_next),
        ]
        for o in kept
    ]
    connection.execute(_COUNTERS_FROM_JSON, {"rows": json.dumps(rows)})


_COUNTER_TYPES = {
    "id": sa.Integer(),
    "was": _participants.c.next_nudge_at.type,
    "sent": sa.Integer(),
    "last": _participants.c.last_nudged_at.type,
    "next": _participants.c.next_nudge_at.type,
}


def _record_counters_from_records(
    connection: sa.Connection, outcomes: Sequence[NudgeOutcome]
) -> set[int]:
    """PostgreSQL: the decisions' counters and next times as one UPDATE ... FROM the rows sent
    as one JSON parameter (store.bulk.json_records), only where the next time is still the
    one the decision was made from (the compare-and-set, in the UPDATE itself: the row is
    locked as it is compared); the ids it moved on, whose nudges are then queued. As an
    executemany (a statement a person) a batch of 1,000 took 320 ms at the median with another
    thread wanting the GIL (benchmarks/nudge_record_contention.py), CPU that an answer's turn
    and its statements waited for."""
    source = json_records(
        [
            {
                "id": o.participant_id,
                "was": o.was_next,
                "sent": o.nudges_sent,
                "last": o.last_nudged_at,
                "next": o.next_nudge_at,
            }
            for o in outcomes
        ],
        _COUNTER_TYPES,
        name="u_counters",
    )
    p = _participants.c
    moved = connection.execute(
        sa.update(_participants)
        .where(p.id == source.c.id, p.next_nudge_at == source.c.was)
        .values(
            nudges_sent=source.c.sent, last_nudged_at=source.c.last, next_nudge_at=source.c.next
        )
        .returning(p.id)
    )
    return set(moved.scalars())


def look_again(session: Session, now: datetime, *, person_id: int) -> None:
    """Something of this person's that may bring a nudge forward changed (a snooze, reminder
    times): the next tick recomputes their next nudge time in every open round. Opted-out
    participations are left alone."""
    p = _participants.c
    open_ids = sa.select(col(Round.id)).where(col(Round.status) == "open")
    session.execute(
        sa.update(_participants)
        .where(p.opted_out.is_(False), p.person_id == person_id, p.round_id.in_(open_ids))
        .values(next_nudge_at=now)
    )


def rounds_to_recheck(session: Session) -> list[tuple[int, datetime]]:
    """Open rounds marked by a later close (`Round.nudge_recheck_at`), with the mark as seen."""
    rows = session.execute(
        sa.select(col(Round.id), col(Round.nudge_recheck_at)).where(
            col(Round.status) == "open", col(Round.nudge_recheck_at).is_not(None)
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


def look_again_at_people_without_a_time(
    session: Session, round_id: int, now: datetime, limit: int
) -> int:
    """Participants of the round with no nudge time who may still be nudged (not opted out, not
    submitted), at most `limit` of them, are looked at by the tick from `now`; how many. The only
    ones a later close can bring a nudge to: for everyone else it moves the next nudge later,
    which the tick finds when it looks."""
    p = _participants.c
    submitted = sa.select(col(Assessment.id)).where(col(Assessment.status) == "submitted")
    without = (
        sa.select(p.id)
        .where(
            p.round_id == round_id,
            p.next_nudge_at.is_(None),
            p.opted_out.is_(False),
            sa.or_(p.assessment_id.is_(None), p.assessment_id.not_in(submitted)),
        )
        .order_by(p.id)
        .limit(limit)
    )
    result = session.connection().execute(
        sa.update(_participants)
        .where(p.id.in_(without.scalar_subquery()))
        .values(next_nudge_at=now)
    )
    return int(result.rowcount)


def recheck_done(session: Session, round_id: int, seen: datetime) -> None:
    """Clear the round's mark, unless it was set again since it was read."""
    session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.nudge_recheck_at) == seen)
        .values(nudge_recheck_at=None)
        .execution_options(synchronize_session=False)
    )


def rounds_wanting_jobs(session: Session) -> list[Round]:
    """Rounds the scheduler has work for: scheduled (to open), open (to close), closed rounds
    whose summaries are still to queue (to finish closing), and closed repeating rounds, not
    paused, that have no successor yet (to repeat)."""
    successor = aliased(Round)
    has_successor = (
        sa.select(col(successor.id))
        .where(col(successor.previous_round_id) == col(Round.id))
        .exists()
    )
    return list(
        session.exec(
            select(Round)
            .where(
                sa.or_(
                    col(Round.status).in_(("scheduled", "open")),
                    sa.and_(
                        col(Round.status) == "closed",
                        col(Round.repeat_every).is_not(None),
                        col(Round.repeat_paused).is_(False),
                        ~has_successor,
                    ),
                    sa.and_(
                        col(Round.status) == "closed",
                        col(Round.closed_at).is_not(None),
                        col(Round.summaries_queued_at).is_(None),
                    ),
                )
            )
            .order_by(col(Round.id))
        ).all()
    )


def rounds_by_id(session: Session, round_ids: set[int]) -> dict[int, Round]:
    """The rounds with these ids, by id (one query)."""
    rows = session.exec(select(Round).where(col(Round.id).in_(round_ids))).all()
    return {r.id: r for r in rows if r.id is not None}
