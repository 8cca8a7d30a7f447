"""The outbox: proactive messages queued in the same transaction as the change that caused them.

Functions here take an open session (one transaction, see store.db) and do nothing else: the
sender (bot/sender.py) claims due rows, sends them within Teams' limits and records the outcome.

- `enqueue` inserts a message; its `dedupe_key` is unique, so queuing the same message twice is
  a silent no-op (INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike).
- `claim_due` leases due rows to one sender process: `lease_owner` + `lease_until`. On
  PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so several processes claim
  disjoint rows at the same moment; on SQLite transactions begin IMMEDIATE (one writer), which
  serialises claims. A row whose lease ran out (its process died) is claimed again. Leases are
  on the *database's* clock (`database_now`), never a process's: a sender whose clock runs
  ahead cannot see another's lease as over. (`not_before`, when a row becomes due, is on the
  caller's clock: skew there moves a send by the skew, it cannot send twice.)
- Outcomes are recorded by store.outbox_outcomes (`mark_sent`, `mark_retry`, `mark_failed`,
  `release`), compare-and-set on the lease.

Timestamps are UTC. SQLite keeps no zone, so they are normalised to UTC before binding and read
back as UTC.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from store.bulk import (
    Computed,
    execute_prepared,
    insert_selected,
    json_records,
    json_texts,
    prepare_insert_ignoring,
)
from store.types import timestamp_column


class OutboxMessage(SQLModel, table=True):
    """A proactive message, written in the same transaction as the change that caused it.

    `dedupe_key` (e.g. `round:12:invite:person:55`) makes queuing the same message twice
    impossible. The sender claims due rows (FOR UPDATE SKIP LOCKED on PostgreSQL), sends them
    within Teams' limits and records the outcome here.
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=32)  # invitation | nudge | summary | huddle | notice | digest
    tenant_id: str = Field(max_length=64)
    person_id: int | None = Field(default=None, foreign_key="people.id")
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    round_id: int | None = Field(default=None, foreign_key="rounds.id", index=True)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # the activity, JSON
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed | cancelled
    attempts: int = Field(default=0)
    not_before: datetime = Field(sa_column=timestamp_column())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    sent_activity_id: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_column=timestamp_column())
    sent_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


PENDING = "pending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, SENT, FAILED, CANCELLED)

_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_c = _outbox.c


@dataclass(frozen=True)
class Target:
    """Where a proactive message goes.

    Either an existing conversation (a team channel, a group chat, a known 1:1 chat):
    `Target.conversation(conversation_id, service_url)`; or the 1:1 chat with a person, which
    the sender creates if no conversation with them is stored yet:
    `Target.person(user_id=29:..., tenant_id, service_url, bot_id=28:...)`.
    """

    service_url: str
    conversation_id: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    bot_id: str | None = None

    def __post_init__(self) -> None:
        if not self.service_url:
            raise ValueError("a target needs a service URL")
        person = (self.user_id, self.tenant_id, self.bot_id)
        if self.conversation_id:
            if any(person):
                raise ValueError("a target is a conversation or a person, not both")
        elif not all(person):
            raise ValueError("a person target needs user_id, tenant_id and bot_id")

    @classmethod
    def conversation(cls, conversation_id: str, service_url: str) -> Target:
        return cls(service_url=service_url, conversation_id=conversation_id)

    @classmethod
    def person(cls, *, user_id: str, tenant_id: str, service_url: str, bot_id: str) -> Target:
        return cls(service_url=service_url, user_id=user_id, tenant_id=tenant_id, bot_id=bot_id)

    @property
    def is_person(self) -> bool:
        return self.conversation_id is None

    def to_json(self) -> dict[str, str]:
        # Field by field, not dataclasses.asdict (which deep-copies: an eighth of a nudge tick).
        fields = ("service_url", "conversation_id", "user_id", "tenant_id", "bot_id")
        return {key: value for key in fields if (value := getattr(self, key)) is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        fields = ("service_url", "conversation_id", "user_id", "tenant_id", "bot_id")
        return cls(**{key: data[key] for key in fields if data.get(key) is not None})


@dataclass(frozen=True)
class Claimed:
    """A row leased to one sender: everything needed to send it and record the outcome."""

    id: int
    dedupe_key: str
    kind: str
    tenant_id: str
    person_id: int | None
    team_id: int | None
    round_id: int | None
    target: Target
    activity: dict[str, Any]
    attempts: int  # attempts made before this one
    lease_until: datetime  # on the database's clock
    created_at: datetime | None = None
    round_closes_at: datetime | None = None  # the round's closing time, for a round's message


@dataclass(frozen=True)
class FailedMessage:
    """A message that will not be sent, for a round's status view."""

    id: int
    dedupe_key: str
    kind: str
    person_id: int | None
    team_id: int | None
    status: int | None  # the HTTP status Teams answered, None for a network error
    error: str  # e.g. "ConversationBlockedByUser: ..."
    attempts: int


def utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (SQLite) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _payload(target: Target, activity: Mapping[str, Any]) -> str:
    return json.dumps(
        {"target": target.to_json(), "activity": dict(activity)},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    tenant_id: str,
    target: Target,
    activity: Mapping[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    person_id: int | None = None,
    team_id: int | None = None,
    round_id: int | None = None,
) -> bool:
    """Queue a message in the caller's transaction. False if `dedupe_key` is already queued
    (whatever its status): the same message can never be queued twice."""
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("dedupe_key must be 1..200 characters")
    values = {
        "dedupe_key": dedupe_key,
        "kind": kind,
        "tenant_id": tenant_id,
        "person_id": person_id,
        "team_id": team_id,
        "round_id": round_id,
        "payload": _payload(target, activity),
        "status": PENDING,
        "attempts": 0,
        "not_before": utc(not_before or now),
        "created_at": utc(now),
    }
    connection = session.connection()
    statement: sa.Executable
    if connection.dialect.name == "postgresql":
        statement = (
            postgresql.insert(_outbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=[_c.dedupe_key])
            .returning(_c.id)
        )
    elif connection.dialect.name == "sqlite":
        statement = (
            sqlite.insert(_outbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=[_c.dedupe_key])
            .returning(_c.id)
        )
    else:  # pragma: no cover - the service supports these two only
        raise NotImplementedError(connection.dialect.name)
    # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... RETURNING.
    return connection.execute(statement).first() is not None


def database_now(session: Session) -> datetime:
    """The database server's clock (aware UTC): the one clock every process shares."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        value = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        return utc(value)
    text = connection.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)


def _due(
    connection: sa.Connection,
    *,
    now: datetime,
    clock: datetime,
    limit: int,
    skip: Collection[int] = (),
) -> sa.Select[Any]:
    """The ids of up to `limit` due rows, oldest first: pending, `not_before <= now`, no lease
    live at `clock` (the database's time), and not in `skip`."""
    due = (
        sa.select(_c.id)
        .where(
            _c.status == PENDING,
            _c.not_before <= now,
            sa.or_(_c.lease_until.is_(None), _c.lease_until <= clock),
        )
        .order_by(_c.not_before, _c.id)
        .limit(limit)
    )
    if skip:
        due = due.where(_c.id.not_in(sorted(skip)))
    if connection.dialect.name == "postgresql":
        # Rows another process is claiming right now are skipped, not waited for.
        due = due.with_for_update(skip_locked=True)
    return due


def _lease(
    connection: sa.Connection, due: sa.Select[Any], *, owner: str, until: datetime
) -> list[sa.Row[Any]]:
    """Lease the `due` rows to `owner` until `until`; the leased rows, oldest first."""
    claim = (
        sa.update(_outbox)
        .where(_c.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=until)
        .returning(
            _c.id,
            _c.dedupe_key,
            _c.kind,
            _c.tenant_id,
            _c.person_id,
            _c.team_id,
            _c.round_id,
            _c.payload,
            _c.attempts,
            _c.not_before,
            _c.created_at,
        )
    )
    return sorted(connection.execute(claim).all(), key=lambda row: (utc(row.not_before), row.id))


def _claimed(row: sa.Row[Any], *, until: datetime, closing: Mapping[int, datetime]) -> Claimed:
    """A leased row as the sender needs it: its payload parsed, its round's closing time."""
    payload = json.loads(row.payload)
    return Claimed(
        id=row.id,
        dedupe_key=row.dedupe_key,
        kind=row.kind,
        tenant_id=row.tenant_id,
        person_id=row.person_id,
        team_id=row.team_id,
        round_id=row.round_id,
        target=Target.from_json(payload["target"]),
        activity=payload["activity"],
        attempts=row.attempts,
        lease_until=until,
        created_at=utc(row.created_at) if row.created_at is not None else None,
        round_closes_at=closing.get(row.round_id) if row.round_id is not None else None,
    )


def claim_due(
    session: Session,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease_seconds: float,
    lease_now: datetime | None = None,
    skip: Collection[int] = (),
) -> list[Claimed]:
    """Lease up to `limit` due rows (pending, `not_before <= now`, no live lease) to `owner`
    for `lease_seconds`, oldest first. The lease is on the database's clock (`lease_now`
    overrides it, for tests of the lease logic only). Rows in `skip` (the caller's own still
    in flight: their outcome may be recorded, lease and all, before the caller's task is done
    with them) are neither leased nor returned."""
    if limit <= 0:
        return []
    now = utc(now)
    clock = utc(lease_now) if lease_now is not None else database_now(session)
    until = clock + timedelta(seconds=lease_seconds)
    connection = session.connection()
    due = _due(connection, now=now, clock=clock, limit=limit, skip=skip)
    rows = _lease(connection, due, owner=owner, until=until)
    closing = _closing_times(session, {row.round_id for row in rows if row.round_id is not None})
    return [_claimed(row, until=until, closing=closing) for row in rows]


def _closing_times(session: Session, round_ids: set[int]) -> dict[int, datetime]:
    if not round_ids:
        return {}
    rounds = sa.table("rounds", sa.column("id"), sa.column("closes_at"))
    found = session.connection().execute(
        sa.select(rounds.c.id, rounds.c.closes_at).where(rounds.c.id.in_(sorted(round_ids)))
    )
    return {int(row.id): utc(_as_datetime(row.closes_at)) for row in found if row.closes_at}


def _as_datetime(value: Any) -> datetime:
    """A timestamp read through a bare table: SQLite hands back its text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def next_due(session: Session, now: datetime, lease_now: datetime | None = None) -> datetime | None:
    """When the earliest pending row becomes claimable, on the caller's clock (`now` or in the
    past if one is due): its `not_before`, or the end of the lease a (perhaps dead) process
    holds on it, translated from the database's clock (`lease_now` overrides it, for tests)."""
    now = utc(now)
    clock = utc(lease_now) if lease_now is not None else database_now(session)
    free = sa.select(sa.func.min(_c.not_before)).where(
        _c.status == PENDING, sa.or_(_c.lease_until.is_(None), _c.lease_until <= clock)
    )
    leased = sa.select(sa.func.min(_c.lease_until)).where(
        _c.status == PENDING, _c.lease_until > clock
    )
    connection = session.connection()
    first_free = connection.execute(free).scalar()
    lease_ends = connection.execute(leased).scalar()
    found = []
    if first_free is not None:
        found.append(utc(first_free))
    if lease_ends is not None:
        found.append(now + (utc(lease_ends) - clock))
    return min(found) if found else None


def pending_count(session: Session) -> int:
    return int(
        session.connection()
        .execute(sa.select(sa.func.count()).select_from(_outbox).where(_c.status == PENDING))
        .scalar_one()
    )


def due_backlog(session: Session, now: datetime, *, at_most: int) -> int:
    """How many messages the sender could send by `now` and has not sent yet (leased ones
    included), counted only up to `at_most`: a range of the (status, not_before) index, never
    the whole queue. Messages held back past `now` (a 429's Retry-After) are not counted."""
    due = (
        sa.select(_c.id)
        .where(_c.status == PENDING, _c.not_before <= utc(now))
        .limit(at_most)
        .subquery()
    )
    return int(
        session.connection().execute(sa.select(sa.func.count()).select_from(due)).scalar_one()
    )


def status_counts(session: Session, round_id: int) -> dict[str, int]:
    """How many of a round's messages are pending, sent, failed and cancelled."""
    rows = session.connection().execute(
        sa.select(_c.status, sa.func.count()).where(_c.round_id == round_id).group_by(_c.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in rows:
        counts[str(status)] = int(count)
    return counts


def failures(session: Session, round_id: int) -> list[FailedMessage]:
    """A round's messages that will not be sent, with what Teams said."""
    rows = session.connection().execute(
        sa.select(
            _c.id,
            _c.dedupe_key,
            _c.kind,
            _c.person_id,
            _c.team_id,
            _c.last_status,
            _c.last_error,
            _c.attempts,
        )
        .where(_c.round_id == round_id, _c.status == FAILED)
        .order_by(_c.id)
    )
    return [
        FailedMessage(
            id=row.id,
            dedupe_key=row.dedupe_key,
            kind=row.kind,
            person_id=row.person_id,
            team_id=row.team_id,
            status=row.last_status,
            error=row.last_error or "",
            attempts=row.attempts,
        )
        for row in rows
    ]


def is_queued(session: Session, dedupe_key: str) -> bool:
    """Whether a message with this key was ever queued (whatever became of it)."""
    found = (
        session.connection()
        .execute(sa.select(_c.id).where(_c.dedupe_key == dedupe_key).limit(1))
        .first()
    )
    return found is not None


@dataclass(frozen=True)
class Queued:
    """One message for `enqueue_many`: as `enqueue`'s arguments, with the activity already
    serialised (`activity_json`), so a card shared by thousands is serialised once."""

    dedupe_key: str
    kind: str
    tenant_id: str
    target: Target
    activity_json: str
    person_id: int | None = None
    team_id: int | None = None
    round_id: int | None = None
    not_before: datetime | None = None


def activity_json(activity: Mapping[str, Any]) -> str:
    """An activity serialised as `enqueue` stores it, for `Queued.activity_json`."""
    return json.dumps(dict(activity), separators=(",", ":"), ensure_ascii=False)


def enqueue_many(session: Session, messages: Iterable[Queued], *, now: datetime) -> int:
    """Queue many messages with one INSERT ... ON CONFLICT DO NOTHING in the caller's
    transaction; how many were new. A message whose `dedupe_key` is already queued is skipped,
    so running the same batch twice queues each message once.

    A batch's messages mostly share a few cards (a nudge batch: one card of ~2.7 kB for up to a
    thousand people), so the database writes each row's payload from its target and its card:
    on PostgreSQL each distinct card is sent once (`_insert_postgresql`). Written out in Python,
    a thousand payloads were megabytes of text, for the json module to escape again (holding
    the GIL) on PostgreSQL, for SQLite to take as UTF-8 under its write lock, and left behind.
    """
    created = utc(now)
    cards: dict[str, int] = {}  # each distinct activity_json, with its place in the batch's list
    rows: list[dict[str, Any]] = []
    for message in messages:
        if not message.dedupe_key or len(message.dedupe_key) > 200:
            raise ValueError("dedupe_key must be 1..200 characters")
        rows.append(
            {
                "dedupe_key": message.dedupe_key,
                "kind": message.kind,
                "tenant_id": message.tenant_id,
                "person_id": message.person_id,
                "team_id": message.team_id,
                "round_id": message.round_id,
                "target": json.dumps(
                    message.target.to_json(), separators=(",", ":"), ensure_ascii=False
                ),
                "card": cards.setdefault(message.activity_json, len(cards)),
                "status": PENDING,
                "attempts": 0,
                "not_before": utc(message.not_before) if message.not_before else created,
                "created_at": created,
            }
        )
    if not rows:
        return 0
    dialect = session.get_bind().dialect  # without a connection: no transaction begun yet
    if dialect.name == "postgresql":
        return _insert_postgresql(session.connection(), rows, list(cards))
    if dialect.name == "sqlite":
        # Neither executemany nor RETURNING: a few statements, whatever the number of rows,
        # their values bound before the first statement of the transaction takes the write lock
        # (where this is the first). SQLite writes the payloads too: a row's card is bound as
        # the batch's one string (its UTF-8 made once), not inside a payload of its own.
        activities = list(cards)
        for row in rows:
            row["activity"] = activities[row.pop("card")]
        prepared = prepare_insert_ignoring(
            dialect, _outbox, rows, ["dedupe_key"], {"payload": _SQLITE_PAYLOAD}
        )
        return execute_prepared(session.connection(), prepared)
    raise NotImplementedError(dialect.name)  # pragma: no cover - these two only


# Byte for byte what `_payload` writes, as `_insert_postgresql` has PostgreSQL write it.
_SQLITE_PAYLOAD = Computed(
    """'{"target":' || ? || ',"activity":' || ? || '}'""", ("target", "activity")
)


def _insert_postgresql(
    connection: sa.Connection, rows: list[dict[str, Any]], cards: list[str]
) -> int:
    """`enqueue_many` on PostgreSQL: one statement, two parameters. The rows (see store.bulk)
    carry their target's JSON and the place of their card in `cards`, the batch's distinct
    activities (sent as one JSON array: see store.bulk on text arrays); the server writes each
    payload, byte for byte what `_payload` writes."""
    types = {
        name: sa.Text() if name == "target" else sa.Integer() if name == "card" else _c[name].type
        for name in rows[0]
    }
    source = json_records(rows, types)
    activities = json_texts(cards, name="u_cards")
    text = functools.partial(sa.literal, type_=sa.Text())
    payload = (  # `||`, not concat(): a NULL would fail the NOT NULL, not vanish
        text('{"target":') + source.c.target + text(',"activity":') + activities.c.value + text("}")
    )
    values = {name: source.c[name] for name in rows[0] if name not in ("target", "card")}
    return insert_selected(
        connection,
        _outbox,
        {**values, "payload": payload},
        _c.dedupe_key,
        where=activities.c.i == source.c.card + 1,
    )
