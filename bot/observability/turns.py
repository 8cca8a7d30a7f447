"""Every turn, watched: an aiohttp middleware around POST /api/messages that gives the turn an id,
reads its activity type and card verb (never its text), times it, and at the end logs one line
("turn", with the duration and outcome), counts it in the metrics and, when tracing is on,
records it as a span.

Outcomes: `ok` (answered), `refused` (a 4xx: not authenticated, malformed, another tenant's),
`error` (the turn failed: `turn_failed` is called by the adapter's error handler, or a 5xx).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from botbuilder.core import TurnContext
from botbuilder.schema import ActivityTypes

from bot.activity_json import activity_json
from bot.observability import metrics
from bot.observability.logs import TurnInfo, current_turn
from bot.observability.tracing import Tracer

log = logging.getLogger("impact_bot.turns")

MESSAGES_PATH = "/api/messages"
ACTIVITY_TYPES = frozenset(str(t.value) for t in ActivityTypes)
ErrorHandler = Callable[[TurnContext, Exception], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _TurnIds:
    """Turn ids, 16 hex digits, unique across processes without a syscall a turn (uuid4 read
    os.urandom, which gives up the GIL: the event loop then waited for the database threads to
    hand it back): 8 random digits drawn once per process, and again in a forked child or when
    the 8-digit counter runs out, then the counter."""

    def __init__(self) -> None:
        self._redraw()
        os.register_at_fork(after_in_child=self._redraw)

    def _redraw(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        number = next(self._counter)
        if number > 0xFFFFFFFF:
            self._redraw()
            number = next(self._counter)
        return f"{self._prefix}{number:08x}"


next_turn_id = _TurnIds().next


def describe(body: Any, known_verbs: Collection[str]) -> tuple[str, str]:
    """(activity type, verb) of an activity: the card verb for card actions, "text" for typed
    messages, "-" otherwise. Values outside the known sets become "unknown"."""
    if not isinstance(body, dict):
        return metrics.UNKNOWN, "-"
    activity_type = metrics.label(str(body.get("type") or ""), ACTIVITY_TYPES)
    value = body.get("value")
    verb: str = "-"
    if isinstance(value, dict):
        action = value.get("action")
        raw = action.get("verb") if isinstance(action, dict) else value.get("verb")
        if raw is not None:
            verb = metrics.label(str(raw), known_verbs)
    if verb == "-" and activity_type == "message" and body.get("text"):
        verb = "text"
    return activity_type, verb


def turn_middleware(known_verbs: Collection[str], tracer: Tracer | None = None) -> Middleware:
    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != MESSAGES_PATH or request.method != "POST":
            return await handler(request)
        started = time.perf_counter()
        turn = TurnInfo(next_turn_id())
        try:
            body = await activity_json(request)  # kept for the handler: parsed once a turn
        except (ValueError, RecursionError, LookupError):  # the handler answers 400 (or 500
            body = None  # for an unknown charset); counted as refused (or error)
        turn.activity_type, turn.verb = describe(body, known_verbs)
        token = current_turn.set(turn)
        span = tracer.start_turn(turn) if tracer else None
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            seconds = time.perf_counter() - started
            if status >= 500:
                turn.outcome = "error"
            elif status >= 400 and turn.outcome == "ok":
                turn.outcome = "refused"
            metrics.observe_turn(turn.activity_type, turn.verb, turn.outcome, seconds)
            log.info(
                "turn %s %s: %s in %.1f ms",
                turn.activity_type,
                turn.verb,
                turn.outcome,
                seconds * 1000,
                extra={"duration_ms": round(seconds * 1000, 2), "outcome": turn.outcome,
                       "status": status},
            )  # fmt: skip
            if span is not None:
                span.end_turn(turn, status)
            current_turn.reset(token)

    return watch


def counting_errors(handler: ErrorHandler) -> ErrorHandler:
    """The adapter's error handler, marking the current turn as failed first."""

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        turn = current_turn.get()
        if turn is not None:
            turn.outcome = "error"
        await handler(context, error)

    return on_turn_error
