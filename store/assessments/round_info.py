"""What a person's profile says about their round: its name, and when its results come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from store.rounds.tables import Round


@dataclass(frozen=True)
class RoundTiming:
    name: str
    status: str  # scheduled | open | closed | cancelled
    closes_at: datetime
    closed_at: datetime | None


def round_timing(session: Session, round_id: int) -> RoundTiming | None:
    round_ = session.get(Round, round_id)
    if round_ is None:
        return None
    return RoundTiming(round_.name, round_.status, round_.closes_at, round_.closed_at)
