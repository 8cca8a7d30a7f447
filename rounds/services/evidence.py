"""A port of the rounds services kept apart from ports.py (which cards import): evidence beside
a team's answers from the bot's other records, read in the caller's transaction."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from sqlmodel import Session


class QuestionEvidence(Protocol):
    """What the bot's other records say beside a team's answers, as (question number, one
    line): huddle records for question 18, say. Evidence beside the self-assessment, never a
    change to an answer. Runs in the caller's transaction; `team_id` is teams.id. The
    composition root passes one (impact/features/rounds.py); rounds never imports its source."""

    def __call__(self, session: Session, team_id: int, today: date) -> list[tuple[int, str]]: ...
