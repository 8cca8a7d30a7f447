"""Reading from Teams outside a turn: a team's roster (every page), for rounds, huddles and who
is in the improvement team; a team's channels, for the huddle schedule form. The services see
this through their own protocols (rounds.services.ports.RosterReader,
huddles.services.ports.RosterReader and ChannelReader)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from framework.identity import TeamChannel, TeamMember

ROSTER_PAGE_SIZE = 500  # Teams' maximum for paged members


class TeamsDirectory:
    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self.adapter = adapter
        self.app_id = app_id

    async def roster(self, team_id: str, reference_json: str, tenant_id: str) -> list[TeamMember]:
        """Every member of the team, all pages (keyed by Teams id and Entra object id)."""
        reference = ConversationReference().deserialize(json.loads(reference_json))
        members: list[TeamMember] = []

        async def read(turn_context: TurnContext) -> None:
            token: str | None = None
            while True:
                # TeamsInfo takes the continuation token before the page size.
                page = await TeamsInfo.get_paged_team_members(
                    turn_context, team_id, token, ROSTER_PAGE_SIZE
                )
                members.extend(_member(m, tenant_id) for m in page.members or [])
                token = page.continuation_token
                if not token:
                    return

        await self.adapter.continue_conversation(reference, read, self.app_id)
        return members

    async def channels(self, team_id: str, reference_json: str) -> list[TeamChannel]:
        """The team's channels, as `TeamsInfo.get_team_channels` reads them (GET
        /v3/teams/{id}/conversations). The SDK's Teams client is synchronous (msrest over
        requests), so its one request runs on a worker thread, not on the event loop. Teams
        gives the General channel no name."""
        reference = ConversationReference().deserialize(json.loads(reference_json))
        found: list[TeamChannel] = []

        async def read(turn_context: TurnContext) -> None:
            client = await TeamsInfo.get_teams_connector_client(turn_context)
            listing = await asyncio.to_thread(client.teams.get_teams_channels, team_id)
            found.extend(
                TeamChannel(id=str(c.id), name=str(c.name or ""))
                for c in listing.conversations or []
                if c.id
            )

        await self.adapter.continue_conversation(reference, read, self.app_id)
        return found


def _member(account: Any, tenant_id: str) -> TeamMember:
    return TeamMember(
        teams_user_id=str(account.id),
        aad_object_id=getattr(account, "aad_object_id", None),
        name=str(getattr(account, "name", "") or ""),
        tenant_id=str(getattr(account, "tenant_id", None) or tenant_id),
        team_role=str(getattr(account, "user_role", None) or "user"),
    )
