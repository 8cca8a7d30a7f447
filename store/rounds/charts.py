"""Rendered chart images, stored by content hash."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
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
