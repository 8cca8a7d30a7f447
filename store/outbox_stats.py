"""The outbox's health, for /metrics: how many messages wait, how long the oldest has waited,
and how many were given up on. One query; no row is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from store.outbox import FAILED, PENDING, OutboxMessage
from store.types import UTCDateTime

_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_c = _outbox.c


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    failed: int
    oldest_pending_age_seconds: float  # 0 when nothing waits


def outbox_health(session: Session, now: datetime) -> OutboxHealth:
    is_pending = _c.status == PENDING
    query = sa.select(
        sa.func.count().filter(is_pending),
        sa.func.count().filter(_c.status == FAILED),
        sa.type_coerce(sa.func.min(sa.case((is_pending, _c.created_at))), UTCDateTime()),
    ).select_from(_outbox)
    pending, failed, oldest = session.connection().execute(query).one()
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return OutboxHealth(int(pending), int(failed), age)
