"""Rendered chart images, stored by content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from store.types import timestamp_column


class ChartImage(SQLModel, table=True):
    """A rendered summary chart, addressed by its content hash; served at /charts/{token}.png so
    that every replica, and every card posted before a restart, can show it."""

    __tablename__ = "chart_images"

    token: str = Field(primary_key=True, max_length=32)
    png: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=timestamp_column())


def chart_token(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()[:32]


def save_chart(session: Session, png: bytes, now: datetime) -> str:
    token = chart_token(png)
    if session.get(ChartImage, token) is None:
        session.add(ChartImage(token=token, png=png, created_at=now))
        session.flush()
    return token


def load_chart(session: Session, token: str) -> bytes | None:
    row = session.get(ChartImage, token)
    return None if row is None else row.png


def save_charts(session: Session, images: Mapping[str, bytes], now: datetime) -> None:
    """Store many charts by token in one statement; a token already stored is kept."""
    if not images:
        return
    table: sa.Table = ChartImage.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(table).on_conflict_do_nothing(index_elements=[table.c.token]),
        [{"token": t, "png": png, "created_at": now} for t, png in images.items()],
    )
