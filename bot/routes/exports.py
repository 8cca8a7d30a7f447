"""GET /exports/{token}: a closed round's aggregated results (frozen at its close) as CSV or
Excel, for a link the bot gave an improvement-team member in Teams (store.rounds.export_links).
Unknown or expired tokens, and rounds that are not closed, get 404; every download is audited."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.config import Settings
from bot.registry import FeatureContext, RouteHandler
from framework.content import Framework
from store.audit import audit
from store.db import Database
from store.rounds.export_links import live_link
from store.rounds.frozen import RoundNotClosed, results_of_closed_round

if TYPE_CHECKING:
    from aiohttp import web

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_route(ctx: FeatureContext) -> RouteHandler:
    return export_handler(ctx.db, ctx.framework, ctx.settings, ctx.clock)


def export_handler(
    db: Database, framework: Framework, settings: Settings, clock: Callable[[], datetime]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    # The server's and the writers' modules (aiohttp, openpyxl), imported as the service builds
    # its routes: not by every `impact-bot` command, which reads the feature's declaration.
    from aiohttp import web

    from rounds.services.export_files import export_csv, export_xlsx

    def render(session: Session, token: str) -> tuple[str, bytes] | None:
        now = clock()
        link = live_link(session, token, now)
        if link is None:
            return None
        try:  # a closed round's frozen results: every download of it is the same file
            results = results_of_closed_round(
                session,
                link.round_id,
                framework=framework,
                min_group=settings.min_group_size,
                min_comment_group=settings.min_comment_group_size,
                now=now,
            )
        except RoundNotClosed:
            return None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"export.{link.format}"
            (export_xlsx if link.format == "xlsx" else export_csv)(results, path, framework)
            body = path.read_bytes()
        audit(session, actor=link.created_by, action="round.export.download",
              target=f"round:{link.round_id}", detail={"format": link.format}, now=now)  # fmt: skip
        return link.format, body

    async def handle(request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        if not 20 <= len(token) <= 64:
            return web.Response(status=404, text="no such export")
        found = await db.run(lambda session: render(session, token))
        if found is None:
            return web.Response(status=404, text="no such export, or the link has expired")
        fmt, body = found
        return web.Response(
            body=body,
            content_type=CONTENT_TYPES[fmt].split(";")[0],
            headers={
                "Content-Disposition": f'attachment; filename="impact-results.{fmt}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return handle
