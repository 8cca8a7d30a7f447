"""What the huddle services need from outside, as protocols: the composition root passes the
implementations (Teams reads from bot.teams_reads, cards from bot.cards.huddles.messages, the
improvement team from rounds.services.improvement_team), so the services never import the Teams
edge and tests can pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from framework.identity import Identity, TeamChannel, TeamMember
from huddles.rules.views import DigestView, NoticeView, NudgeView, PromptView

Activity = dict[str, Any]  # a Bot Framework message activity, as the outbox stores it

DEFAULT_ESCALATE_AFTER_DAYS = 3


class RosterReader(Protocol):
    async def roster(self, team_id: str, reference_json: str, tenant_id: str) -> list[TeamMember]:
        """Every member of the team, all pages, with their role in it (owner | user | guest);
        raises when Teams does not answer."""
        ...


class ChannelReader(Protocol):
    async def channels(self, team_id: str, reference_json: str) -> list[TeamChannel]:
        """The team's channels (TeamsInfo.get_team_channels); raises when Teams does not
        answer."""
        ...


class ImprovementTeamCheck(Protocol):
    async def includes(self, identity: Identity) -> bool:
        """Whether this person is on the improvement team."""
        ...


class HuddleMessages(Protocol):
    """The proactive messages of huddles, as activities ready for the outbox."""

    def prompt(self, view: PromptView) -> Activity: ...

    def notice(self, view: NoticeView) -> Activity: ...

    def nudge(self, view: NudgeView) -> Activity: ...

    def digest(self, view: DigestView) -> Activity: ...


@dataclass(frozen=True)
class HuddleOptions:
    """The settings huddles use (from IMPACT_* settings, see bot.config)."""

    zone: ZoneInfo
    escalate_after_days: int = DEFAULT_ESCALATE_AFTER_DAYS
    improvement_team_id: str = ""
