"""The aiohttp service: POST /api/messages (Bot Framework), GET /healthz, GET /readyz, and the
routes features declare. The composition root (impact.service) builds it; nothing here is a
module-level singleton, so tests build as many apps as they like.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse
from msrest.exceptions import DeserializationError

from bot import gate, replies
from bot.activity_codec import activity_from_json
from bot.activity_json import activity_json
from bot.adapter import CachingBotFrameworkAuthentication, SigningKeysUnavailable
from bot.inputs import plain_data, plain_text
from bot.registry import RouteHandler
from bot.router import ImpactBot
from bot.turn_requests import turn_requests
from bot.turns import TurnsInFlight
from store.db import Database, DatabaseOutcomeUnknown, DatabaseUnavailable, deadline
from store.schema import schema_status

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # Teams activities are well under this; cards we send are < 28 KB
MAX_BODY_DEPTH = 64  # Teams activities nest a dozen levels at most; deeper is not an activity
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"
TURN_DATABASE_SECONDS = 8.0  # a turn's database work, all of it: the apology comes within 10 s
READY_DATABASE_SECONDS = 3.0  # /readyz answers 503 within 5 s of the database going silent

DB_KEY = web.AppKey("db", Database)
ADAPTER_KEY = web.AppKey("adapter", CloudAdapter)
BOT_KEY = web.AppKey("bot", ImpactBot)
TURNS_KEY = web.AppKey("turns", TurnsInFlight)


def web_app(
    adapter: CloudAdapter,
    bot: ImpactBot,
    db: Database,
    routes: Sequence[tuple[str, str, RouteHandler]] = (),
    turns: TurnsInFlight | None = None,
) -> web.Application:
    """/api/messages, /healthz, /readyz and the features' own routes; the caller owns `db`.
    `turns` counts the activities being handled (the outbox sender gives way to them)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[DB_KEY] = db
    app[ADAPTER_KEY] = adapter
    app[BOT_KEY] = bot
    app[TURNS_KEY] = turns if turns is not None else TurnsInFlight()
    app.router.add_post("/api/messages", _messages)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.on_cleanup.append(_close_http)
    return app


async def _close_http(app: web.Application) -> None:
    auth = app[ADAPTER_KEY].bot_framework_authentication
    if isinstance(auth, CachingBotFrameworkAuthentication):
        await auth.close()


def _problem(status: HTTPStatus, message: str) -> web.Response:
    return web.json_response({"error": message}, status=int(status))


async def _messages(request: web.Request) -> web.StreamResponse:
    if request.content_type != "application/json":  # the media type exactly, parameters aside
        return _problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "expected application/json")
    try:
        body = await activity_json(request)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        return _problem(HTTPStatus.BAD_REQUEST, "body is not a Bot Framework activity")
    if not isinstance(body, dict) or _deeper_than(body, MAX_BODY_DEPTH):
        return _problem(HTTPStatus.BAD_REQUEST, "body is not a Bot Framework activity")
    try:
        activity = activity_from_json(body)  # msrest's Activity().deserialize(body), exactly
    except (DeserializationError, TypeError, ValueError, RecursionError):
        return _problem(HTTPStatus.BAD_REQUEST, "body is not a Bot Framework activity")
    if not activity.type:
        return _problem(HTTPStatus.BAD_REQUEST, "activity has no type")
    if (reason := gate.refusal(body)) is not None:
        log.warning("refused activity before authentication: %s", reason)
        return _problem(HTTPStatus.FORBIDDEN, "this bot serves Microsoft Teams only")
    if (missing := _unanswerable(activity, body)) is not None:
        return _problem(HTTPStatus.BAD_REQUEST, f"activity has no {missing}")
    if not (isinstance(activity.locale, str) and _LOCALE.fullmatch(activity.locale)):
        activity.locale = None  # replies carry it back: a forged one could make them too big
    if isinstance(activity.text, str):
        activity.text = plain_text(activity.text)
    activity.value = plain_data(activity.value)
    adapter = request.app[ADAPTER_KEY]
    try:
        with request.app[TURNS_KEY].turn(), deadline(TURN_DATABASE_SECONDS, person_waiting=True):
            response = await adapter.process_activity(
                request.headers.get("Authorization", ""), activity, request.app[BOT_KEY].on_turn
            )
    except PermissionError as exc:
        # One line, never the token: the SDK's and PyJWT's messages name claims, not values.
        log.warning("refused request: not authenticated (%s)", _reason(exc))
        return _problem(HTTPStatus.UNAUTHORIZED, "unauthorised")
    except SigningKeysUnavailable as exc:
        log.warning("refused request: Bot Framework signing keys unavailable (%s)", exc)
        return _problem(HTTPStatus.SERVICE_UNAVAILABLE, "try again later")
    if response is None:
        return web.Response(status=int(HTTPStatus.CREATED))
    return web.json_response(
        _serialise(response.body), status=response.status, dumps=_compact_dumps
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON nests deeper than `limit` (iteratively: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _reason(exc: BaseException) -> str:
    """A refusal's reason, short and without anything token-shaped (a JWT has two dots)."""
    cause = exc.__cause__ or exc
    text = " ".join(str(part) for part in getattr(cause, "args", ()) if part is not None)
    words = [w for w in text.split() if w.count(".") < 2 and len(w) < 80]
    return f"{type(cause).__name__}: {' '.join(words)[:160]}".rstrip(": ")


_LOCALE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}")  # BCP 47, as Teams sends it


def _unanswerable(activity: Activity, body: dict[str, Any]) -> str | None:
    """What an activity lacks to be acted on and answered (Teams always sends them all): the
    sender's id, the conversation's id, the recipient, an http(s) service URL."""
    if not getattr(activity.from_property, "id", None):
        return "from.id"
    if not getattr(activity.conversation, "id", None):
        return "conversation.id"
    if activity.recipient is None:
        return "recipient"
    if not str(activity.service_url or "").startswith(("https://", "http://")):
        return "serviceUrl"
    if any(not isinstance(body.get(key), str | None) for key in ("id", "replyToId")):
        return "string id"  # replies name it in Teams' URLs (msrest would stringify a list)
    return None


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
        with deadline(READY_DATABASE_SECONDS):
            status = await db.run(lambda session: schema_status(session.get_bind()))  # type: ignore[arg-type]
    except (DatabaseUnavailable, Exception) as exc:
        log.warning("readiness check failed: %s", exc)
        return web.json_response(
            {"status": "unavailable", "reason": "database unreachable"}, status=503
        )
    if not status.is_current:
        return web.json_response({"status": "unavailable", "reason": status.describe()}, status=503)
    return web.json_response({"status": "ready", "schema": status.head})


async def turn_error_handler(context: TurnContext, error: Exception) -> None:
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
    if isinstance(error, DatabaseOutcomeUnknown):
        message = (
            "Sorry, my database stopped answering just as I was saving that, so I can't tell "
            "whether it was saved. Please look again in a few minutes before trying again."
        )
    elif isinstance(error, DatabaseUnavailable):
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
        replies.set_invoke_response(context, HTTPStatus.OK, body)
    try:
        await turn_requests(context).request(
            partial(context.send_activity, message), what=f"the apology [ref {reference}]"
        )
    except Exception:
        log.exception("could not send the apology [ref %s]", reference)
