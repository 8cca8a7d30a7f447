"""Rendered chart images, each under a random token.

The token is random (`secrets.token_urlsafe(32)`: 256 bits), never derived from the image: a
hash of the content could be found by drawing every possible chart of a team (about a thousand
"k of n responded" images) and trying their hashes. Each image belongs to its round, so it is
deleted with the round's other data (`delete_round_charts`, for the retention job). Only charts
of groups whose results are shown are ever stored (rounds.services.charts.stored_chart_url).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, Session, SQLModel, col

from store.bulk import execute_prepared, prepare_insert_ignoring
from store.types import timestamp_column

TOKEN_BYTES = 32  # 256 random bits; token_urlsafe gives 43 characters


class ChartImage(SQLModel, table=True):
    """A rendered summary chart, served at /charts/{token}.png so that every replica, and every
    card posted before a restart, can show it."""

    __tablename__ = "chart_images"

    token: str = Field(primary_key=True, max_length=64)
    round_id: int | None = Field(default=None, foreign_key="rounds.id", index=True)
    png: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=timestamp_column())


def new_chart_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def save_chart(session: Session, png: bytes, now: datetime, *, round_id: int) -> str:
    """Store a chart of the round under a new random token; the token."""
    token = new_chart_token()
    session.add(ChartImage(token=token, round_id=round_id, png=png, created_at=now))
    session.flush()
    return token


def save_charts(
    session: Session, images: Mapping[str, bytes], now: datetime, *, round_id: int
) -> int:
    """Store many charts of a round, each under its token (`new_chart_token`: random, so two
    tokens never collide), in as few statements as the database allows; how many were new. A
    token already stored is left alone, so a batch stored twice (its first commit unanswered)
    stores each image once. On SQLite the values are bound before the transaction takes the
    write lock, where this is its first statement."""
    rows = [
        {"token": t, "round_id": round_id, "png": png, "created_at": now}
        for t, png in images.items()
    ]
    if not rows:
        return 0
    table = ChartImage.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect  # without a connection: no transaction begun yet
    if dialect.name == "sqlite":
        prepared = prepare_insert_ignoring(dialect, table, rows, ["token"])
        return execute_prepared(session.connection(), prepared)
    statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=["token"])
    return int(session.connection().execute(statement.returning(table.c.token), rows).rowcount)


def load_chart(session: Session, token: str) -> bytes | None:
    row = session.get(ChartImage, token)
    return None if row is None else row.png


def delete_round_charts(session: Session, round_id: int) -> int:
    """Delete every chart of a round (with the round's other data); how many were deleted."""
    result = session.execute(sa.delete(ChartImage).where(col(ChartImage.round_id) == round_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
