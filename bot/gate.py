"""The gates every activity passes before any handler or database work.

* `refusal` (on the raw JSON body, in bot/web.py, before authentication): the activity must come
  from Teams (`channelId` msteams: Azure Bot enables Web Chat by default, whose client sets its own
  `from.id` and tenant), and its two tenant fields must agree. botbuilder 4.17 reads the
  conversation's tenant from `tenantID`, so the `tenantId` Teams sends is empty in the SDK's
  object: only the raw body has both.
* `TenantGate` (middleware): the tenant must be one this deployment serves
  (IMPACT_ALLOWED_TENANTS). The bot's own proactive turns (adapter.continue_conversation, whose
  event carries no tenant) pass: `refusal` refuses that event from outside.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes

from bot import replies
from bot.identity import tenant_of

log = logging.getLogger(__name__)

TEAMS_CHANNEL = "msteams"
CONTINUE_CONVERSATION = "ContinueConversation"  # the event of adapter.continue_conversation


def refusal(body: dict[str, Any]) -> str | None:
    """Why this raw activity is refused before anything else sees it, or None."""
    if body.get("channelId") != TEAMS_CHANNEL:
        return "channelId is not msteams"
    if body.get("type") == ActivityTypes.event and body.get("name") == CONTINUE_CONVERSATION:
        return "ContinueConversation is the bot's own proactive turn, never an inbound activity"
    conversation = body.get("conversation")
    channel_data = body.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    said = (
        conversation.get("tenantId") if isinstance(conversation, dict) else None,
        tenant.get("id") if isinstance(tenant, dict) else None,
    )
    if any(value is not None and not isinstance(value, str) for value in said):
        return "a tenant id is not a string"
    if all(said) and said[0] != said[1]:
        return "conversation.tenantId and channelData.tenant.id disagree"
    return None


class TenantGate(Middleware):  # type: ignore[misc]
    """Refuses activities from tenants outside IMPACT_ALLOWED_TENANTS (empty: any tenant)."""

    def __init__(self, allowed_tenants: tuple[str, ...]) -> None:
        self._allowed = frozenset(allowed_tenants)

    async def on_turn(self, context: TurnContext, logic: Any) -> None:
        if _proactive(context) or not self._allowed or tenant_of(context) in self._allowed:
            await logic()
            return
        activity = context.activity
        log.warning(
            "refused activity from tenant %r (type=%s, from=%s)",
            tenant_of(context),
            activity.type,
            getattr(activity.from_property, "id", None),
        )
        if activity.type == ActivityTypes.invoke:
            replies.set_invoke_response(context, HTTPStatus.FORBIDDEN)
        elif activity.type == ActivityTypes.message:
            await context.send_activity("Sorry, this bot isn't available for your organisation.")


def _proactive(context: TurnContext) -> bool:
    """The bot's own proactive turn (reading a roster, sending): `refusal` refuses this event
    from outside, so only `adapter.continue_conversation` makes one."""
    activity = context.activity
    return bool(activity.type == ActivityTypes.event and activity.name == CONTINUE_CONVERSATION)
