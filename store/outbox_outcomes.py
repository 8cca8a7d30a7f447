"""A claimed outbox row's outcome: sent, to retry, failed, or released unsent.

Each function is compare-and-set: it changes a row only while it is still pending and leased by
the same owner (see store.outbox.claim_due), so a process whose lease expired cannot overwrite the
outcome another process recorded. Each returns False if the row is no longer ours (nothing
changed).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from store.outbox import FAILED, PENDING, SENT, OutboxMessage, utc

__all__ = ["MAX_ERROR_CHARS", "mark_failed", "mark_retry", "mark_sent", "release", "status_of"]

MAX_ERROR_CHARS = 500

_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_c = _outbox.c


def _leased(row_id: int, owner: str) -> sa.ColumnElement[bool]:
    return sa.and_(_c.id == row_id, _c.status == PENDING, _c.lease_owner == owner)


def _error(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR_CHARS]


def mark_sent(
    session: Session,
    *,
    row_id: int,
    owner: str,
    now: datetime,
    activity_id: str | None,
    status: int = 201,
) -> bool:
    """Teams accepted the message. False if the row is no longer ours (nothing changed)."""
    statement = (
        sa.update(_outbox)
        .where(_leased(row_id, owner))
        .values(
            status=SENT,
            attempts=_c.attempts + 1,
            sent_at=utc(now),
            sent_activity_id=activity_id,
            last_status=status,
            last_error=None,
            lease_until=None,
        )
    )
    return session.connection().execute(statement).rowcount == 1


def mark_retry(
    session: Session,
    *,
    row_id: int,
    owner: str,
    not_before: datetime,
    status: int | None,
    error: str,
) -> bool:
    """A transient failure: count the attempt, try again at `not_before` (any process)."""
    statement = (
        sa.update(_outbox)
        .where(_leased(row_id, owner))
        .values(
            attempts=_c.attempts + 1,
            not_before=utc(not_before),
            last_status=status,
            last_error=_error(error),
            lease_owner=None,
            lease_until=None,
        )
    )
    return session.connection().execute(statement).rowcount == 1


def mark_failed(
    session: Session,
    *,
    row_id: int,
    owner: str,
    status: int | None,
    error: str,
) -> bool:
    """A permanent failure (or retries exhausted): the message will not be sent."""
    statement = (
        sa.update(_outbox)
        .where(_leased(row_id, owner))
        .values(
            status=FAILED,
            attempts=_c.attempts + 1,
            last_status=status,
            last_error=_error(error),
            lease_until=None,
        )
    )
    return session.connection().execute(statement).rowcount == 1


def release(session: Session, *, row_id: int, owner: str, not_before: datetime) -> bool:
    """Give a claimed row back unsent and without counting an attempt (the sender is stopping,
    or the rate limit would keep it waiting longer than its lease)."""
    statement = (
        sa.update(_outbox)
        .where(_leased(row_id, owner))
        .values(not_before=utc(not_before), lease_owner=None, lease_until=None)
    )
    return session.connection().execute(statement).rowcount == 1


def status_of(session: Session, row_id: int) -> str | None:
    """A row's status now (None if it is gone): why an outcome found the row no longer ours."""
    return session.connection().execute(sa.select(_c.status).where(_c.id == row_id)).scalar()
