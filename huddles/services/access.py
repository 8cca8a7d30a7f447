"""Who may do what with a team's huddles, decided on the server for every action:

* anyone in the team (on its roster, as Teams says) adds ideas, actions and escalations, says
  "I'm here", lists the team's open items and changes them;
* a lead of the team (an owner of the team, as Teams says, or someone the improvement team named
  lead with `impact-bot huddles leads add`) and the improvement team change the team's
  schedules and record whether a huddle was held;
* only the improvement team arranges the team tree.

Rosters are read from Teams through a port and kept for a few minutes per team, so a change in
Teams takes effect without a restart and a busy huddle does not read the roster at every tap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from framework.identity import Identity, TeamMember
from huddles.services.ports import ImprovementTeamCheck, RosterReader
from store.audit import audit
from store.db import Database
from store.huddles.schedules import named_leads, teams_naming_lead
from store.teams import Team, installed_teams

ROSTER_SECONDS = 300.0
OWNER = "owner"
NOT_A_LEAD = "Only the team's leads and the improvement team can do that. Nothing was changed."
NOT_IMPROVEMENT = "Only the improvement team can do that. Nothing was changed."


def actor_of(identity: Identity) -> str:
    """How the audit trail names a person: their Entra object id, else their Teams id."""
    return identity.aad_object_id or f"teams:{identity.teams_user_id}"


def _ids(identity: Identity) -> set[str]:
    return {i for i in (identity.teams_user_id, identity.aad_object_id or "") if i}


def _member_ids(member: TeamMember) -> set[str]:
    return {i for i in (member.teams_user_id, member.aad_object_id or "") if i}


class HuddleAccess:
    def __init__(
        self,
        db: Database,
        rosters: RosterReader,
        improvement: ImprovementTeamCheck,
        clock: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        roster_seconds: float = ROSTER_SECONDS,
    ) -> None:
        self.db = db
        self.rosters = rosters
        self.improvement = improvement
        self.clock = clock
        self.monotonic = monotonic
        self.roster_seconds = roster_seconds
        self._rosters: dict[str, tuple[float, list[TeamMember]]] = {}

    # -- rosters ----------------------------------------------------------------------------

    async def roster(self, team: Team) -> list[TeamMember]:
        """The team's members as Teams says (cached for a few minutes); raises if Teams does
        not answer and nothing is cached."""
        cached = self._rosters.get(team.team_id)
        if cached is not None and self.monotonic() - cached[0] <= self.roster_seconds:
            return cached[1]
        members = await self.rosters.roster(team.team_id, team.reference, team.tenant_id)
        self._rosters[team.team_id] = (self.monotonic(), members)
        return members

    async def member(self, identity: Identity, team: Team) -> TeamMember | None:
        ids = _ids(identity)
        for member in await self.roster(team):
            if _member_ids(member) & ids:
                return member
        return None

    # -- decisions --------------------------------------------------------------------------

    async def in_improvement_team(self, identity: Identity) -> bool:
        return await self.improvement.includes(identity)

    async def is_lead(self, identity: Identity, team: Team) -> bool:
        assert team.id is not None
        team_id = team.id
        named = set(await self.db.run(lambda s: named_leads(s, team_id)))
        if named & _ids(identity):
            return True
        member = await self.member(identity, team)
        return member is not None and member.team_role == OWNER

    async def may_manage(self, identity: Identity, team: Team) -> bool:
        """A lead of this team, or the improvement team."""
        return await self.in_improvement_team(identity) or await self.is_lead(identity, team)

    async def leads(self, team: Team) -> list[TeamMember]:
        """The team's leads as Teams knows them: the named leads found on its roster, then its
        owners (a named lead not on the roster is left out: Teams cannot reach them here)."""
        assert team.id is not None
        team_id = team.id
        named = await self.db.run(lambda s: named_leads(s, team_id))
        roster = await self.roster(team)
        chosen: list[TeamMember] = []
        for person in named:
            chosen += [m for m in roster if person in _member_ids(m) and m not in chosen]
        chosen += [m for m in roster if m.team_role == OWNER and m not in chosen]
        return chosen

    async def teams_led_by(self, identity: Identity) -> list[Team]:
        """The installed teams of the person's tenant this person may manage huddles for: every
        one for the improvement team, else the teams where they are a named lead or an owner."""
        teams = [t for t in await self.db.run(installed_teams) if t.tenant_id == identity.tenant_id]
        if await self.in_improvement_team(identity):
            return teams
        ids = tuple(_ids(identity))
        named = set(await self.db.run(lambda s: teams_naming_lead(s, ids)))
        led = []
        for team in teams:
            if team.id in named:
                led.append(team)
                continue
            try:
                member = await self.member(identity, team)
            except Exception:  # Teams did not answer for this team: leave it out
                continue
            if member is not None and member.team_role == OWNER:
                led.append(team)
        return led

    async def record(
        self, identity: Identity, action: str, *, allowed: bool, target: str = ""
    ) -> None:
        """Write the decision to the audit log, allowed or refused."""
        actor, now = actor_of(identity), self.clock()
        await self.db.run(
            lambda s: audit(s, actor=actor, action=action, target=target, allowed=allowed, now=now)
        )

    async def decide_manage(self, identity: Identity, team: Team, action: str) -> bool:
        """May this person change this team's huddles? Audited either way."""
        allowed = await self.may_manage(identity, team)
        await self.record(identity, action, allowed=allowed, target=f"team:{team.team_id}")
        return allowed

    async def decide_improvement(self, identity: Identity, action: str, target: str = "") -> bool:
        allowed = await self.in_improvement_team(identity)
        await self.record(identity, action, allowed=allowed, target=target)
        return allowed
