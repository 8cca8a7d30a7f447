"""Who counts as the improvement team, named rather than implied:

* the Entra object ids in IMPACT_ADMIN_IDS;
* the **owners** of the improvement team's Team (IMPACT_IMPROVEMENT_TEAM_ID), in that Team's
  tenant. Its members and guests do not count: anyone can be added to a Team as a member, and a
  guest belongs to another organisation.

That Team's roster is read from Teams and kept for a few minutes, so making someone an owner (or
not) in Teams takes effect without a restart. `impact-bot admins list` shows who counts and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from framework.identity import Identity, TeamMember
from rounds.rules.access import Permission, Policy
from rounds.services.ports import RosterReader
from store.db import Database
from store.teams import installed_team

ROSTER_SECONDS = 300.0
OWNER = "owner"


@dataclass(frozen=True)
class Admin:
    """Someone who counts as the improvement team, and why."""

    person: str  # an Entra object id, else a Teams id
    name: str
    tenant_id: str  # "" for IMPACT_ADMIN_IDS: whichever tenant they speak from
    why: str


@dataclass(frozen=True)
class _Owners:
    tenant_id: str
    ids: frozenset[str]
    roster: tuple[TeamMember, ...]
    team_name: str


class ImprovementTeam:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        rosters: RosterReader,
        team_id: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.policy = policy
        self.rosters = rosters
        self.team_id = team_id
        self.monotonic = monotonic
        self._owners = _Owners("", frozenset(), (), "")
        self._read_at: float | None = None

    async def includes(self, identity: Identity) -> bool:
        if self.policy.allows(identity.aad_object_id, Permission.MANAGE_ROUNDS):
            return True
        return await self.in_team(identity)

    async def in_team(self, identity: Identity) -> bool:
        """An owner of the improvement team's Team, speaking from that Team's tenant."""
        if not self.team_id:
            return False
        owners = await self._current()
        if identity.tenant_id != owners.tenant_id:
            return False
        return bool({identity.teams_user_id, identity.aad_object_id or ""} & owners.ids)

    async def admins(self) -> tuple[list[Admin], list[TeamMember]]:
        """Who counts, and why; then the improvement Team's members and guests, who do not."""
        named = [
            Admin(person, "", "", "IMPACT_ADMIN_IDS") for person in sorted(self.policy.admin_ids)
        ]
        if not self.team_id:
            return named, []
        self._read_at = None  # always as Teams says now
        owners = await self._current()
        counted = [
            Admin(
                m.aad_object_id or m.teams_user_id,
                m.name,
                owners.tenant_id,
                f"owner of the improvement Team {owners.team_name!r}",
            )
            for m in owners.roster
            if m.team_role == OWNER
        ]
        others = [m for m in owners.roster if m.team_role != OWNER]
        return named + counted, others

    async def _current(self) -> _Owners:
        if self._read_at is None or self.monotonic() - self._read_at > ROSTER_SECONDS:
            await self._refresh()
        return self._owners

    async def _refresh(self) -> None:
        team_id = self.team_id
        team = await self.db.run(lambda s: installed_team(s, team_id))
        if team is None:
            self._owners = _Owners("", frozenset(), (), "")
        else:
            roster = tuple(await self.rosters.roster(team.team_id, team.reference, team.tenant_id))
            ids = frozenset(
                key
                for m in roster
                if m.team_role == OWNER
                for key in (m.teams_user_id, m.aad_object_id)
                if key
            )
            self._owners = _Owners(team.tenant_id, ids, roster, team.name)
        self._read_at = self.monotonic()
