"""Huddle records as evidence beside NHS IMPACT question 18 ("Staff attend huddles"), for a
team's round summary and Full results: rounds takes it through its own port
(rounds.services.ports.QuestionEvidence), which the composition root fills with this."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from huddles.services.digests import q18_line

HUDDLE_QUESTION = 18  # "Staff attend huddles"


def huddle_evidence(session: Session, team_id: int, today: date) -> list[tuple[int, str]]:
    """[(18, "Held 11 of 12 scheduled huddles in the last quarter")] when the bot has huddle
    records for the team (teams.id) in the quarter up to `today`, else []."""
    line = q18_line(session, team_id, today)
    return [] if line is None else [(HUDDLE_QUESTION, line)]
