"""Reading from Teams outside a turn: a team's roster (every page), for rounds, huddles and who
is in the improvement team; a team's channels, for the huddle schedule form. The services see
this through their own protocols (rounds.services.ports.RosterReader,
huddles.services.ports.RosterReader and ChannelReader)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.sender.answers import classify
from bot.sender.limits import Permit, RateLimiter, Sleep
from framework.identity import TeamChannel, TeamMember

ROSTER_PAGE_SIZE = 500  # Teams' maximum for paged members
CHANNELS_WAIT_SECONDS = 2.0  # a person is waiting for the form: General alone after this

log = logging.getLogger(__name__)


class RosterUnavailable(Exception):
    """Teams did not give a roster page within the retry budget (or refused it for good)."""


class ChannelsUnavailable(Exception):
    """The tenant's rate limit would keep a person waiting too long for a team's channels."""


@dataclass(frozen=True)
class RosterRetry:
    """How a roster page read is retried: what Teams says is transient (429, 412, 502, 503,
    504, no answer, a timeout) is tried again after its Retry-After (else an exponential
    back-off), within `attempts` and `budget_seconds` per page. A page's request ends at
    `page_timeout_seconds` or at the adapter's own request timeout, whichever comes first
    (IMPACT_REPLY_TIMEOUT_SECONDS, 10 s by default: the adapter's clients carry it for every
    request they make, so with the defaults a page is given up after 10 s)."""

    attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0
    budget_seconds: float = 120.0
    page_timeout_seconds: float = 30.0


class TeamsDirectory:
    """Reads through the process's rate limiter (`limiter`, the outbox sender's too:
    impact.service.create_app), so that roster pages and channel lists count against Teams'
    per-tenant and per-conversation limits like every other request the process makes."""

    def __init__(
        self,
        adapter: CloudAdapter,
        app_id: str,
        *,
        limiter: RateLimiter | None = None,
        retry: RosterRetry | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.app_id = app_id
        # (a RateLimiter with no keys yet is falsy: it has a length)
        self.limiter = limiter if limiter is not None else RateLimiter(clock=monotonic, sleep=sleep)
        self.retry = retry or RosterRetry()
        self._sleep = sleep
        self._monotonic = monotonic

    async def roster(self, team_id: str, reference_json: str, tenant_id: str) -> list[TeamMember]:
        """Every member of the team, all pages (keyed by Teams id and Entra object id); raises
        RosterUnavailable when a page cannot be read within the retry budget."""
        reference = ConversationReference().deserialize(json.loads(reference_json))
        members: list[TeamMember] = []

        async def read(turn_context: TurnContext) -> None:
            token: str | None = None
            while True:
                page = await self._page(turn_context, team_id, tenant_id, token)
                members.extend(_member(m, tenant_id) for m in page.members or [])
                token = page.continuation_token
                if not token:
                    return

        await self.adapter.continue_conversation(reference, read, self.app_id)
        return members

    async def _page(
        self, turn_context: TurnContext, team_id: str, tenant_id: str, token: str | None
    ) -> Any:
        """One roster page, within the rate limits, retried while Teams says it is transient."""
        retry = self.retry
        conversation = self.limiter.conversation(team_id)
        tenant = self.limiter.tenant(tenant_id)
        deadline = self._monotonic() + retry.budget_seconds
        for attempt in range(1, retry.attempts + 1):
            left = deadline - self._monotonic()
            permit = await self.limiter.acquire([conversation, tenant], max_wait=max(left, 0.0))
            if not isinstance(permit, Permit):
                raise RosterUnavailable(f"the rate limit would wait {permit:.0f} s")
            try:
                # TeamsInfo takes the continuation token before the page size.
                return await asyncio.wait_for(
                    TeamsInfo.get_paged_team_members(
                        turn_context, team_id, token, ROSTER_PAGE_SIZE
                    ),
                    retry.page_timeout_seconds,
                )
            except Exception as exc:  # what Teams (or the network) said
                problem = classify(exc)
            finally:
                permit.finish()
            wait = problem.retry_after
            if problem.status == 429:
                self.limiter.throttled(conversation, tenant, wait or retry.backoff_base_seconds)
            if wait is None:
                wait = min(
                    retry.backoff_cap_seconds, retry.backoff_base_seconds * 2 ** (attempt - 1)
                )
            out_of_time = self._monotonic() + wait > deadline
            if not problem.transient or attempt == retry.attempts or out_of_time:
                raise RosterUnavailable(
                    f"{problem.status or 'no answer'} {problem.describe()} after {attempt} "
                    f"attempt(s)"
                )
            log.warning(
                "roster page of team %s: %s %s; retrying in %.1f s (attempt %d of %d)",
                team_id,
                problem.status or "no answer",
                problem.code,
                wait,
                attempt,
                retry.attempts,
            )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def channels(self, team_id: str, reference_json: str) -> list[TeamChannel]:
        """The team's channels, as `TeamsInfo.get_team_channels` reads them (GET
        /v3/teams/{id}/conversations). The SDK's Teams client is synchronous (msrest over
        requests), so its one request runs on a worker thread, not on the event loop. Teams
        gives the General channel no name. The request counts in the tenant's window."""
        reference = ConversationReference().deserialize(json.loads(reference_json))
        found: list[TeamChannel] = []
        tenant = self.limiter.tenant(str(getattr(reference.conversation, "tenant_id", "") or ""))

        async def read(turn_context: TurnContext) -> None:
            client = await TeamsInfo.get_teams_connector_client(turn_context)
            listing = await asyncio.to_thread(client.teams.get_teams_channels, team_id)
            found.extend(
                TeamChannel(id=str(c.id), name=str(c.name or ""))
                for c in listing.conversations or []
                if c.id
            )

        permit = await self.limiter.acquire([tenant], max_wait=CHANNELS_WAIT_SECONDS)
        if not isinstance(permit, Permit):
            raise ChannelsUnavailable(f"the rate limit would wait {permit:.1f} s")
        try:
            await self.adapter.continue_conversation(reference, read, self.app_id)
        finally:
            permit.finish()
        return found


def _member(account: Any, tenant_id: str) -> TeamMember:
    return TeamMember(
        teams_user_id=str(account.id),
        aad_object_id=getattr(account, "aad_object_id", None),
        name=str(getattr(account, "name", "") or ""),
        tenant_id=str(getattr(account, "tenant_id", None) or tenant_id),
        team_role=str(getattr(account, "user_role", None) or "user"),
    )
