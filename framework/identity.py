"""Who is speaking: the identity a turn carries, as Teams says (validated by the token upstream)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """Who is speaking, as the activity says (validated by the Bot Framework token upstream)."""

    tenant_id: str
    teams_user_id: str
    aad_object_id: str | None
    name: str
    time_zone: str | None = None  # the Teams client's zone (`localTimezone`), for nudges


@dataclass(frozen=True)
class TeamMember:
    """A team member as Teams' paged roster gives them (never by email: it no longer does)."""

    teams_user_id: str
    aad_object_id: str | None
    name: str
    tenant_id: str
    team_role: str = "user"  # owner | user | guest


@dataclass(frozen=True)
class TeamChannel:
    """A channel of a team, as Teams lists them (the General channel's id is the team's id)."""

    id: str
    name: str
