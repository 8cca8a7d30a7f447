"""Short-lived download links for one person's own data (`my data` in the 1:1 chat), made like
a round's export links (store.rounds.export_links): the random token is the only key, and it
expires. The data is read when the link is opened, never stored in the link."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Field, Session, SQLModel

from store.rounds.export_links import LINK_LIFETIME
from store.types import timestamp_column


class AuditErasure(SQLModel, table=True):
    """A row here, inside an erasure's own transaction (and never committed), is what lets that
    transaction change the audit log: migration 0012's triggers refuse UPDATE and DELETE on
    `audit_log` when this table is empty, on SQLite and PostgreSQL alike. No other transaction
    can see an uncommitted row."""

    __tablename__ = "audit_erasures"

    id: int | None = Field(default=None, primary_key=True)


class PersonalExportLink(SQLModel, table=True):
    __tablename__ = "personal_export_links"

    token: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(foreign_key="people.id", index=True)
    created_at: datetime = Field(sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())


def create_personal_link(session: Session, person_id: int, now: datetime) -> PersonalExportLink:
    """A link to `person_id`'s data for `LINK_LIFETIME` (256 random bits)."""
    link = PersonalExportLink(
        token=secrets.token_urlsafe(32),
        person_id=person_id,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    return link


def live_personal_link(session: Session, token: str, now: datetime) -> PersonalExportLink | None:
    link = session.get(PersonalExportLink, token)
    if link is None or link.expires_at <= now:
        return None
    return link
