"""GET /charts/{token}.png: a round summary's chart, from the database (store.rounds.charts), so
every replica, and every card posted before a restart, can show it. Tokens are random (256 bits)
and the response is `Cache-Control: private`: no shared cache keeps a team's chart."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.registry import FeatureContext, RouteHandler
from store.rounds.charts import load_chart

if TYPE_CHECKING:
    from aiohttp import web

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


ChartLookup = Callable[[str], Awaitable[bytes | None]]


def chart_handler(lookup: ChartLookup) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /charts/{token}.png → the PNG that `lookup` finds for the token (store.rounds.charts)."""
    from aiohttp import web  # the server's, imported as the service builds its routes

    async def handle(request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        if not _TOKEN.match(token):
            return web.Response(status=404, text="no such chart")
        png = await lookup(token)
        if png is None:
            return web.Response(status=404, text="no such chart")
        etag = f'"{token}"'
        headers = {
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=png, content_type="image/png", headers=headers)

    return handle


def chart_route(ctx: FeatureContext) -> RouteHandler:
    db = ctx.db

    async def lookup(token: str) -> bytes | None:
        return await db.run(lambda session: load_chart(session, token))

    return chart_handler(lookup)
