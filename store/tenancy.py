"""Which tenant a Team and a round belong to. A round's tenant is its teams' tenant (a round is
created only with teams of one tenant), so no round, team or result of one tenant is listed,
shown or exported to the improvement team of another (rounds.services.admin)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.rounds.tables import RoundTeam
from store.teams import Team


def teams_tenants(session: Session, team_ids: tuple[str, ...]) -> set[str]:
    """The tenants of these Teams (by Teams id)."""
    if not team_ids:
        return set()
    found = session.exec(select(Team.tenant_id).where(col(Team.team_id).in_(team_ids))).all()
    return set(found)


def round_tenants(session: Session, round_id: int) -> set[str]:
    """The tenants of a round's teams (one, for any round created since tenants were checked)."""
    found = session.exec(
        select(Team.tenant_id)
        .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
        .where(RoundTeam.round_id == round_id)
    ).all()
    return set(found)


def rounds_of_tenant(session: Session, tenant_id: str) -> set[int]:
    """The ids of the rounds whose teams are all in this tenant."""
    pairs = session.exec(
        select(RoundTeam.round_id, Team.tenant_id).join(
            Team, col(RoundTeam.team_id) == col(Team.id)
        )
    ).all()
    tenants: dict[int, set[str]] = {}
    for round_id, tenant in pairs:
        tenants.setdefault(round_id, set()).add(tenant)
    return {round_id for round_id, found in tenants.items() if found == {tenant_id}}
