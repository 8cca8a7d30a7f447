"""How far an open round has got, for one of its teams: response counts only.

While a round is open this is all that is shown about it (to the improvement team and to the
team's owners): no figures, no comments, nothing drawn from anyone's answers but whether they
submitted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.rules.views import TeamProgress
from store.assessments.tables import Assessment
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team


def team_progress(session: Session, round_id: int, team_id: int) -> TeamProgress | None:
    """Submitted and roster counts of one team in a round; None if the team is not in it."""
    row = session.exec(
        select(Round, Team)
        .join(RoundTeam, col(RoundTeam.round_id) == col(Round.id))
        .join(Team, col(Team.id) == col(RoundTeam.team_id))
        .where(Round.id == round_id, RoundTeam.team_id == team_id)
    ).first()
    if row is None:
        return None
    round_, team = row
    roster, submitted = session.exec(
        select(
            sa.func.count(sa.distinct(col(RoundParticipant.id))),
            sa.func.count(sa.distinct(col(Assessment.id))),
        )
        .select_from(RoundParticipant)
        .join(
            RoundParticipantTeam,
            col(RoundParticipantTeam.participant_id) == col(RoundParticipant.id),
        )
        .outerjoin(
            Assessment,
            sa.and_(
                col(Assessment.id) == col(RoundParticipant.assessment_id),
                col(Assessment.status) == "submitted",
            ),
        )
        .where(RoundParticipant.round_id == round_id, RoundParticipantTeam.team_id == team_id)
    ).one()
    return TeamProgress(
        round_id=round_id,
        round_name=round_.name,
        status=round_.status,
        closes_at=round_.closes_at,
        team_name=team.name or f"Team {team_id}",
        submitted=int(submitted),
        roster=int(roster),
    )
