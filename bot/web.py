"""The aiohttp service: POST /api/messages (Bot Framework), GET /healthz, GET /readyz.

`create_app` wires one Settings, one Database, the framework content, the adapter and the bot;
nothing is a module-level singleton, so tests build as many apps as they like.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse
from msrest.exceptions import DeserializationError

from bot import replies as teams_io
from bot.adapter import CachingBotFrameworkAuthentication, build_adapter
from bot.background import Background
from bot.config import Settings
from bot.dialogs.assessment import AssessmentDialog
from bot.dialogs.rounds.admin import AdminDialog
from bot.dialogs.rounds.reminders import RemindersDialog
from bot.router import Dialogs, ImpactBot, TenantGate
from bot.routes.exports import export_handler
from framework.content import Framework, default_framework
from rounds.rules.access import Policy
from rounds.services.charts import chart_handler
from rounds.services.improvement_team import ImprovementTeamMembers
from rounds.services.opening import RoundOpener
from store.db import Database, DatabaseUnavailable
from store.rounds.charts import load_chart
from store.schema import schema_status
from store.types import utcnow

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # Teams activities are well under this; cards we send are < 28 KB
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"

DB_KEY = web.AppKey("db", Database)
ADAPTER_KEY = web.AppKey("adapter", CloudAdapter)
BOT_KEY = web.AppKey("bot", ImpactBot)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    framework: Framework | None = None,
    clock: Callable[[], Any] = utcnow,
    background: bool = False,
) -> web.Application:
    """The service. With `background`, also the outbox sender and (while leading) the scheduler,
    as `impact-bot serve` runs it; tests drive those directly instead."""
    database = db or Database(settings.database_url)
    content = framework or default_framework()
    dialog = AssessmentDialog(
        database,
        content,
        zone=settings.zone,
        comment_max_chars=settings.comment_max_chars,
        clock=clock,
    )
    adapter = build_adapter(settings)
    adapter.on_turn_error = _turn_error_handler
    adapter.use(TenantGate(settings.allowed_tenants))
    improvement_team = ImprovementTeamMembers(
        database,
        RoundOpener(database, adapter, settings, content),
        settings.improvement_team_id,
    )
    dialogs = Dialogs(
        assessment=dialog,
        admin=AdminDialog(
            database,
            content,
            Policy.of(settings.admin_ids),
            zone=settings.zone,
            clock=clock,
            min_group=settings.min_group_size,
            min_comment_group=settings.min_comment_group_size,
            public_url=settings.public_url,
            in_improvement_team=improvement_team.contains,
        ),
        reminders=RemindersDialog(database, zone=settings.zone, clock=clock),
    )
    bot = ImpactBot(database, dialogs, settings.comment_max_chars)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[DB_KEY] = database
    app[ADAPTER_KEY] = adapter
    app[BOT_KEY] = bot
    app.router.add_post("/api/messages", _messages)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)

    async def chart(token: str) -> bytes | None:
        return await database.run(lambda session: load_chart(session, token))

    app.router.add_get("/charts/{token}.png", chart_handler(chart))
    app.router.add_get("/exports/{token}", export_handler(database, content, settings, clock))
    app.on_cleanup.append(_close_http)
    if background:
        work = Background(settings, database, adapter, content, clock)
        app.on_startup.append(work.start)
        app.on_cleanup.append(work.stop)
    if db is None:  # we made it, we close it
        app.on_cleanup.append(_close_database)
    return app


async def _close_database(app: web.Application) -> None:
    app[DB_KEY].dispose()


async def _close_http(app: web.Application) -> None:
    auth = app[ADAPTER_KEY].bot_framework_authentication
    if isinstance(auth, CachingBotFrameworkAuthentication):
        await auth.close()


def _problem(status: HTTPStatus, message: str) -> web.Response:
    return web.json_response({"error": message}, status=int(status))


async def _messages(request: web.Request) -> web.StreamResponse:
    if "application/json" not in request.headers.get("Content-Type", ""):
        return _problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "expected application/json")
    try:
        body = await request.json()
        activity = Activity().deserialize(body)
    except (json.JSONDecodeError, UnicodeDecodeError, DeserializationError, TypeError, ValueError):
        return _problem(HTTPStatus.BAD_REQUEST, "body is not a Bot Framework activity")
    if not isinstance(body, dict) or not activity.type:
        return _problem(HTTPStatus.BAD_REQUEST, "activity has no type")
    adapter = request.app[ADAPTER_KEY]
    try:
        response = await adapter.process_activity(
            request.headers.get("Authorization", ""), activity, request.app[BOT_KEY].on_turn
        )
    except PermissionError:
        return _problem(HTTPStatus.UNAUTHORIZED, "unauthorised")
    if response is None:
        return web.Response(status=int(HTTPStatus.CREATED))
    return web.json_response(
        _serialise(response.body), status=response.status, dumps=_compact_dumps
    )


def _serialise(body: Any) -> Any:
    if body is None or isinstance(body, dict | list | str | int | float | bool):
        return body
    if isinstance(body, AdaptiveCardInvokeResponse):
        # Three plain fields; msrest's generic walk over the card costs ~0.4 ms a turn.
        return {"statusCode": body.status_code, "type": body.type, "value": body.value}
    return body.serialize()


def _compact_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    try:
        status = await db.run(lambda session: schema_status(session.get_bind()))  # type: ignore[arg-type]
    except (DatabaseUnavailable, Exception) as exc:
        log.warning("readiness check failed: %s", exc)
        return web.json_response(
            {"status": "unavailable", "reason": "database unreachable"}, status=503
        )
    if not status.is_current:
        return web.json_response({"status": "unavailable", "reason": status.describe()}, status=503)
    return web.json_response({"status": "ready", "schema": status.head})


async def _turn_error_handler(context: TurnContext, error: Exception) -> None:
    """Log the failure with a reference; tell the person briefly, never with a stack trace."""
    reference = uuid.uuid4().hex[:8]
    activity = context.activity
    log.error(
        "turn failed [ref %s] type=%s activity=%s from=%s: %r",
        reference,
        activity.type,
        activity.id,
        getattr(activity.from_property, "id", None),
        error,
        exc_info=error,
    )
    if isinstance(error, DatabaseUnavailable):
        message = (
            "Sorry, I can't reach my database just now, so nothing was changed. "
            "Everything you saved before is safe; please try again in a few minutes."
        )
    else:
        message = (
            "Sorry, something went wrong on my side and nothing was changed. Please try again."
        )
    message += f" (ref {reference})"
    if activity.type == ActivityTypes.invoke:
        body = {
            "statusCode": int(HTTPStatus.INTERNAL_SERVER_ERROR),
            "type": ERROR_CONTENT_TYPE,
            "value": {"code": "InternalError", "message": message},
        }
        teams_io.set_invoke_response(context, HTTPStatus.OK, body)
    try:
        await context.send_activity(message)
    except Exception:
        log.exception("could not send the apology [ref %s]", reference)
