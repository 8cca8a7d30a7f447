"""Rendered chart images, stored by content hash."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import Session

from store.models import ChartImage


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
