"""What the rounds services need from outside, as protocols: the composition root passes the
implementations (Teams reads from bot.teams_reads, cards from bot.cards.rounds.messages), so the
services never import the Teams edge and tests can pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from framework.identity import TeamMember
from rounds.rules.summary import SummaryView
from rounds.rules.views import InvitationView

Activity = dict[str, Any]  # a Bot Framework message activity, as the outbox stores it


class RosterReader(Protocol):
    async def roster(self, team_id: str, reference_json: str, tenant_id: str) -> list[TeamMember]:
        """Every member of the team, all pages (raises when Teams does not answer)."""
        ...


class RoundMessages(Protocol):
    """The proactive messages of a round, as activities ready for the outbox."""

    def invitation(self, view: InvitationView) -> Activity: ...

    def summary(self, view: SummaryView) -> Activity: ...


@dataclass(frozen=True)
class RoundOptions:
    """The settings rounds use (from IMPACT_* settings, see bot.config)."""

    zone: ZoneInfo
    min_group: int = 5
    min_comment_group: int = 10
    public_url: str = ""
    improvement_team_id: str = ""
    app_id: str = ""
