"""View models of rounds' cards: what each card shows and nothing else (cards render them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvitationView:
    round_id: int
    round_name: str
    team_names: tuple[str, ...]
    closes_on: str  # e.g. "Friday 11 December"
    question_count: int
    minutes: tuple[int, int]  # (fewest, most) to read and answer: framework.reading
    nudge: bool = False  # a reminder rather than the first invitation
