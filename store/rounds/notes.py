"""What the improvement team is told about a round beyond its status: teams whose roster is
pending, or that it never opened (store.rounds.pending has the moves; this module only reads,
so that listing rounds (store.rounds.lifecycle) can use it)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from store.rounds.tables import Round, RoundTeam
from store.teams import Team

MISSED_REASON = "its opening was processed after its closing time"


def pending_team_names(session: Session, round_id: int) -> tuple[str, ...]:
    """The round's teams whose roster was not read (once it has opened)."""
    return tuple(
        session.exec(
            select(Team.name)
            .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
            .join(Round, col(Round.id) == col(RoundTeam.round_id))
            .where(
                RoundTeam.round_id == round_id,
                col(RoundTeam.roster_frozen_at).is_(None),
                col(Round.opened_at).is_not(None),
            )
            .order_by(col(Team.name))
        ).all()
    )


def round_note(round_: Round, pending: Sequence[str]) -> str:
    """What the improvement team needs to know about the round beyond its status ('' if
    nothing)."""
    if round_.status == "closed" and round_.opened_at is None:
        return f"never opened: {MISSED_REASON}; no invitations were sent"
    if pending and round_.status == "open":
        return "roster not read yet (retried every few minutes): " + ", ".join(pending)
    if pending:
        return "roster never read: " + ", ".join(pending)
    return ""
