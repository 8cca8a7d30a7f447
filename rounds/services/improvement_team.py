"""Who counts as the improvement team: IMPACT_ADMIN_IDS, plus everyone in the improvement
team's Team (IMPACT_IMPROVEMENT_TEAM_ID). That Team's roster is read from Teams and kept for a
few minutes, so adding or removing someone in Teams takes effect without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable

from framework.identity import Identity
from rounds.rules.access import Permission, Policy
from rounds.services.ports import RosterReader
from store.db import Database
from store.teams import installed_team

ROSTER_SECONDS = 300.0


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
        self._members: frozenset[str] = frozenset()
        self._read_at: float | None = None

    async def includes(self, identity: Identity) -> bool:
        if self.policy.allows(identity.aad_object_id, Permission.MANAGE_ROUNDS):
            return True
        return await self.in_team(identity)

    async def in_team(self, identity: Identity) -> bool:
        if not self.team_id:
            return False
        if self._read_at is None or self.monotonic() - self._read_at > ROSTER_SECONDS:
            await self._refresh()
        return bool({identity.teams_user_id, identity.aad_object_id or ""} & self._members)

    async def _refresh(self) -> None:
        team_id = self.team_id
        team = await self.db.run(lambda s: installed_team(s, team_id))
        if team is None:
            self._members = frozenset()
        else:
            roster = await self.rosters.roster(team.team_id, team.reference, team.tenant_id)
            self._members = frozenset(
                key for m in roster for key in (m.teams_user_id, m.aad_object_id) if key
            )
        self._read_at = self.monotonic()
