"""The team tree escalations climb: each team's parent (frontline → directorate → executive)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from huddles.rules.items import ancestors, would_create_cycle
from store.audit import audit
from store.huddles.schedules import HuddleError, team_by_teams_id
from store.huddles.tables import TeamParent
from store.teams import Team


def parent_map(session: Session) -> dict[int, int | None]:
    """Every linked team's parent (teams.id → teams.id)."""
    rows = session.exec(select(TeamParent.team_id, TeamParent.parent_id)).all()
    return {team: parent for team, parent in rows}


def as_links(parents: dict[int, int | None]) -> dict[str, str | None]:
    """The parent map as the cascade rules read it (team ids as text)."""
    return {str(k): (None if v is None else str(v)) for k, v in parents.items()}


def chain_in(parents: dict[int, int | None], team_id: int) -> tuple[int, ...]:
    """The teams above this one, nearest first (an empty tuple for a top team)."""
    return tuple(int(t) for t in ancestors(as_links(parents), str(team_id)))


def set_parent(
    session: Session, team_id: str, parent_id: str | None, *, actor: str, now: datetime
) -> tuple[Team, Team | None]:
    """Make `parent_id` (Teams ids) the team above `team_id`, or None: a top team. Refuses a
    link that would make the tree loop. Audited."""
    team = team_by_teams_id(session, team_id)
    assert team.id is not None
    parent = team_by_teams_id(session, parent_id) if parent_id else None
    if parent is not None:
        assert parent.id is not None
        if would_create_cycle(as_links(parent_map(session)), str(team.id), str(parent.id)):
            raise HuddleError(
                f"{parent.name or parent_id} is already below {team.name or team_id} "
                "(or is the same team): that would make the tree loop"
            )
    row = session.get(TeamParent, team.id)
    if parent is None:
        if row is not None:
            session.execute(sa.delete(TeamParent).where(col(TeamParent.team_id) == team.id))
    elif row is None:
        assert parent.id is not None
        session.add(TeamParent(team_id=team.id, parent_id=parent.id, updated_by=actor,
                               updated_at=now))  # fmt: skip
    else:
        assert parent.id is not None
        row.parent_id, row.updated_by, row.updated_at = parent.id, actor, now
    audit(session, actor=actor, action="team.parent", target=f"team:{team_id}",
          detail={"parent": parent_id}, now=now)  # fmt: skip
    session.flush()
    return team, parent


def teams_by_id(session: Session) -> dict[int, Team]:
    return {team.id: team for team in session.exec(select(Team)).all() if team.id is not None}
