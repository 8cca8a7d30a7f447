"""The audit trail: who did what, when, allowed or refused. Written by every admin action."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from store.types import timestamp_column


class AuditEntry(SQLModel, table=True):
    """Who did what to which round, and when: every admin action, allowed or refused."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=timestamp_column())
    actor: str = Field(max_length=128)  # Entra object id, or cli:<os user>
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=128)
    allowed: bool = Field(default=True)
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    allowed: bool = True,
    detail: dict[str, object] | None = None,
    now: datetime,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor[:128],
            action=action[:64],
            target=target[:128],
            allowed=allowed,
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )
