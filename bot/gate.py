"""The gates every activity passes before any handler or database work.

* `refusal` (on the raw JSON body, in bot/web.py, before authentication): the activity must come
  from Teams (`channelId` msteams: Azure Bot enables Web Chat by default, whose client sets its own
  `from.id` and tenant), and its two tenant fields must agree. botbuilder 4.17 reads the
  conversation's tenant from `tenantID`, so the `tenantId` Teams sends is empty in the SDK's
  object: only the raw body has both.
* `TenantGate` (middleware): the tenant must be one this deployment serves
  (IMPACT_ALLOWED_TENANTS). The bot's own proactive turns (adapter.continue_conversation, whose
  event carries no tenant) pass: `refusal` refuses that event from outside.

What a refused activity costs us is bounded, whatever arrives: anyone whose organisation has the
app can send it activities, as fast as Teams lets them. An invoke is answered 403 in its own HTTP
answer (no request to Teams). A message gets one line of notice ("not available for your
organisation") at most once a day per conversation, and only when the process's one budget of
Teams requests has room for it at once: it is counted there (the refused tenant's and chat's
windows, and a window of notices for every refused tenant together, 1 a second and 60 an hour),
never goes ahead of anything, is never retried, and waits at most the adapter's request timeout.
Anything else gets nothing. The refusal is logged at WARNING once a day per conversation, at
DEBUG otherwise, so a flood does not flood the log either; every refused activity is counted in
`impact_turns_total{outcome="refused"}`, so an operator sees a flood on the metrics.
docs/outbox.md ("Turn replies").
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes

from bot import replies
from bot.identity import tenant_of
from bot.observability.logs import current_turn
from bot.sender.limits import Permit, RateLimiter, Window

log = logging.getLogger(__name__)

TEAMS_CHANNEL = "msteams"
CONTINUE_CONVERSATION = "ContinueConversation"  # the event of adapter.continue_conversation
REFUSAL_NOTICE = "Sorry, this bot isn't available for your organisation."
NOTICE_EVERY_SECONDS = 24 * 3600.0  # per conversation: one notice, one WARNING line
REMEMBERED_CONVERSATIONS = 4096  # refused conversations remembered (least recent out first)
NOTICES_KEY = "refusal-notices"  # the budget's window for every refused tenant's notices
NOTICE_WINDOWS: tuple[Window, ...] = ((1, 1.0), (60, 3600.0))


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
    """Refuses activities from tenants outside IMPACT_ALLOWED_TENANTS (empty: any tenant); the
    notice a refused message may get counts in `limiter`, the process's one budget."""

    def __init__(
        self,
        allowed_tenants: tuple[str, ...],
        limiter: RateLimiter,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allowed = frozenset(allowed_tenants)
        self._limiter = limiter
        self._clock = clock
        self._refused: OrderedDict[str, float] = OrderedDict()  # conversation -> first refusal

    async def on_turn(self, context: TurnContext, logic: Any) -> None:
        if _proactive(context) or not self._allowed or tenant_of(context) in self._allowed:
            await logic()
            return
        activity = context.activity
        if (turn := current_turn.get()) is not None:  # impact_turns_total{outcome="refused"}
            turn.outcome = "refused"
        conversation = str(getattr(activity.conversation, "id", "") or "")
        first = self._first_in_a_while(conversation)
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "refused activity from tenant %r (type=%s, from=%s)%s",
            tenant_of(context),
            activity.type,
            getattr(activity.from_property, "id", None),
            "; more from this conversation today are logged at DEBUG" if first else "",
        )
        if activity.type == ActivityTypes.invoke:
            replies.set_invoke_response(context, HTTPStatus.FORBIDDEN)
        elif activity.type == ActivityTypes.message and first:
            await self._notice(context, conversation)

    def _first_in_a_while(self, conversation: str) -> bool:
        """True (and remembered) if this conversation was not refused in the last day."""
        now = self._clock()
        last = self._refused.get(conversation)
        if last is not None and now - last < NOTICE_EVERY_SECONDS:
            return False
        self._refused[conversation] = now
        self._refused.move_to_end(conversation)
        while len(self._refused) > REMEMBERED_CONVERSATIONS:
            self._refused.popitem(last=False)
        return True

    async def _notice(self, context: TurnContext, conversation: str) -> None:
        """The one line of notice, if the budget has room for it now; never retried."""
        limiter = self._limiter
        keys = [
            limiter.conversation(conversation),
            limiter.tenant(tenant_of(context)),
            limiter.key(NOTICES_KEY, NOTICE_WINDOWS),
        ]
        permit = await limiter.acquire(keys, max_wait=0.0, stopping=lambda: True)
        if not isinstance(permit, Permit):
            log.debug("no notice to a refused tenant: the budget has no room for it now")
            return
        try:
            await context.send_activity(REFUSAL_NOTICE)
        except Exception as exc:  # Teams' answer or none: a courtesy, not worth more
            log.info("the notice to a refused tenant was not sent: %s", exc)
        finally:
            permit.finish()


def _proactive(context: TurnContext) -> bool:
    """The bot's own proactive turn (reading a roster, sending): `refusal` refuses this event
    from outside, so only `adapter.continue_conversation` makes one."""
    activity = context.activity
    return bool(activity.type == ActivityTypes.event and activity.name == CONTINUE_CONVERSATION)
