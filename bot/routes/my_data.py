"""GET /my-data/{token}: one person's own data as JSON, for the link `my data` gave them in
their 1:1 chat (store.privacy.tables). Read when opened, from every feature's personal-data
hooks; unknown or expired tokens get 404; every download is audited."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.registry import FeatureContext, RouteHandler
from store.audit import audit
from store.db import Database
from store.personal import PersonalData
from store.privacy.rights import export_person, subject_of
from store.privacy.tables import live_personal_link

if TYPE_CHECKING:
    from aiohttp import web


def my_data_route(ctx: FeatureContext) -> RouteHandler:
    return my_data_handler(ctx.db, ctx.personal_data, ctx.clock)


def my_data_handler(
    db: Database, hooks: tuple[PersonalData, ...], clock: Callable[[], datetime]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    from aiohttp import web  # the server's, imported as the service builds its routes

    def render(session: Session, token: str) -> bytes | None:
        now = clock()
        link = live_personal_link(session, token, now)
        subject = None if link is None else subject_of(session, link.person_id)
        if subject is None:
            return None
        document = {"exported_at": now.isoformat(), **export_person(session, subject, hooks)}
        actor = subject.aad_object_id or f"teams:{subject.teams_user_id}"
        audit(session, actor=actor, action="person.export.download", now=now)
        return json.dumps(document, indent=2, ensure_ascii=False).encode()

    async def handle(request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        if not 20 <= len(token) <= 64:
            return web.Response(status=404, text="no such download")
        body = await db.run(lambda session: render(session, token))
        if body is None:
            return web.Response(status=404, text="no such download, or the link has expired")
        return web.Response(
            body=body,
            content_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="my-impact-data.json"',
                "Cache-Control": "no-store, private",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return handle
