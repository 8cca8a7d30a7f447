"""Everyone in the configured improvement-team Team (IMPACT_IMPROVEMENT_TEAM_ID) counts as the
improvement team, besides IMPACT_ADMIN_IDS. Its roster is read from Teams and kept for a few
minutes, so adding or removing someone in Teams takes effect without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel import select

from framework.identity import Identity
from rounds.services.opening import RoundOpener
from store.db import Database
from store.teams import Team

ROSTER_SECONDS = 300.0


class ImprovementTeamMembers:
    def __init__(
        self,
        db: Database,
        opener: RoundOpener,
        team_id: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.opener = opener
        self.team_id = team_id
        self.monotonic = monotonic
        self._members: frozenset[str] = frozenset()
        self._read_at: float | None = None

    async def contains(self, identity: Identity) -> bool:
        if not self.team_id:
            return False
        if self._read_at is None or self.monotonic() - self._read_at > ROSTER_SECONDS:
            await self._refresh()
        return bool({identity.teams_user_id, identity.aad_object_id or ""} & self._members)

    async def _refresh(self) -> None:
        team_id = self.team_id
        team = await self.db.run(
            lambda s: s.exec(select(Team).where(Team.team_id == team_id, Team.installed)).first()
        )
        if team is None:
            self._members = frozenset()
        else:
            roster = await self.opener.roster(team)
            self._members = frozenset(
                key for m in roster for key in (m.teams_user_id, m.aad_object_id) if key
            )
        self._read_at = self.monotonic()
