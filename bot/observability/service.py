"""Wiring the watching into a service app: the turn middleware, the adapter's error handler,
/metrics, and traces. The composition root calls `watch` once per app.

Who may read /metrics:
- with IMPACT_METRICS_TOKEN set, /metrics on the service's port answers only a request with
  `Authorization: Bearer <token>` (401 otherwise);
- with IMPACT_METRICS_PORT set, /metrics is also served, without a token, on that port: keep
  it internal (Container Apps exposes only the ingress port; compose publishes none);
- in local mode (loopback only) /metrics is open on the service's port;
- otherwise /metrics is not served on the service's port at all.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.config import Settings
from bot.observability import metrics
from bot.observability.tracing import build_tracer
from bot.observability.turns import counting_errors, turn_middleware
from store.db import Database

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
SOURCES_KEY = web.AppKey("metrics_sources", metrics.Sources)


def metrics_handler(sources: metrics.Sources, token: str = "") -> Callable[..., object]:
    expected = f"Bearer {token}".encode()

    async def serve_metrics(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if token and not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "unauthorised"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        await metrics.refresh(sources)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve_metrics


def watch(
    app: web.Application,
    adapter: CloudAdapter,
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime],
    known_verbs: Collection[str],
    is_leader: Callable[[], bool] = lambda: False,
) -> None:
    """Add the turn middleware, /metrics (see the module's doc) and tracing to `app`."""
    tracer = build_tracer(settings.appinsights_connection_string)
    app.middlewares.append(turn_middleware(frozenset(known_verbs), tracer))
    adapter.on_turn_error = counting_errors(adapter.on_turn_error)
    sources = metrics.Sources(db=db, clock=clock, is_leader=is_leader)
    app[SOURCES_KEY] = sources
    if settings.metrics_token or settings.local_mode:
        app.router.add_get(METRICS_PATH, metrics_handler(sources, settings.metrics_token))  # type: ignore[arg-type]
    if settings.metrics_port is not None:
        app.cleanup_ctx.append(_internal_metrics(sources, settings))
    if tracer is not None:

        async def stop_tracing(_app: web.Application) -> None:
            tracer.shutdown()

        app.on_cleanup.append(stop_tracing)


def _internal_metrics(
    sources: metrics.Sources, settings: Settings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A second listener, on IMPACT_METRICS_PORT, serving /metrics only, for the app's life."""

    async def listener(_app: web.Application) -> AsyncIterator[None]:
        internal = web.Application()
        internal.router.add_get(METRICS_PATH, metrics_handler(sources))  # type: ignore[arg-type]
        runner = web.AppRunner(internal, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.bind_host, settings.metrics_port).start()
        log.info(
            "metrics on http://%s:%s%s", settings.bind_host, settings.metrics_port, METRICS_PATH
        )
        yield
        await runner.cleanup()

    return listener
