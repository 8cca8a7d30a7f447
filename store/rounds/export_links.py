"""Short-lived download links for a round's aggregated results (Teams has no "save as" for a bot,
so the improvement team gets a link to the bot's own endpoint)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import Field, Session, SQLModel

from store.types import timestamp_column


class ExportLink(SQLModel, table=True):
    """A short-lived download of a round's aggregated results, made for one improvement-team
    member in Teams; the token is the only key, and it expires."""

    __tablename__ = "export_links"

    token: str = Field(primary_key=True, max_length=64)
    round_id: int = Field(foreign_key="rounds.id")
    format: str = Field(max_length=8)  # csv | xlsx
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())


LINK_LIFETIME = timedelta(minutes=15)


def create_link(
    session: Session, round_id: int, fmt: str, *, created_by: str, now: datetime
) -> ExportLink:
    link = ExportLink(
        token=secrets.token_urlsafe(32),
        round_id=round_id,
        format=fmt,
        created_by=created_by,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    return link


def live_link(session: Session, token: str, now: datetime) -> ExportLink | None:
    link = session.get(ExportLink, token)
    if link is None or link.expires_at <= now:
        return None
    return link
