"""The gate every activity passes before any handler or database work: the tenant must be one
this deployment serves (IMPACT_ALLOWED_TENANTS)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes

from bot import replies
from bot.identity import tenant_of

log = logging.getLogger(__name__)


class TenantGate(Middleware):  # type: ignore[misc]
    """Refuses activities from tenants outside IMPACT_ALLOWED_TENANTS (empty: any tenant)."""

    def __init__(self, allowed_tenants: tuple[str, ...]) -> None:
        self._allowed = frozenset(allowed_tenants)

    async def on_turn(self, context: TurnContext, logic: Any) -> None:
        if not self._allowed or tenant_of(context) in self._allowed:
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
