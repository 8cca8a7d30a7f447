"""View models of rounds' cards: what each card shows and nothing else (cards render them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class InvitationView:
    round_id: int
    round_name: str
    team_names: tuple[str, ...]
    closes_on: str  # e.g. "Friday 11 December"
    question_count: int
    minutes: tuple[int, int]  # (fewest, most) to read and answer: framework.reading
    nudge: bool = False  # a reminder rather than the first invitation


@dataclass(frozen=True)
class TeamProgress:
    """One team's response counts in a round: all that is shown about a round while it is open
    (no figures, no comments, nothing drawn from anyone's answers but whether they submitted)."""

    round_id: int
    round_name: str
    status: str
    closes_at: datetime
    team_name: str
    submitted: int
    roster: int

    @property
    def response_rate(self) -> float | None:
        return None if self.roster == 0 else self.submitted / self.roster
