"""GET /charts/{token}.png (bot.routes.charts): stored charts served by their token."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.routes.charts import chart_handler
from rounds.services.charts import (
    chart_url,
    component_chart_png,
)
from store.db import Database
from store.rounds.charts import load_chart, save_chart
from tests.bot.cards.test_summary import FRAMEWORK
from tests.conftest import serve
from tests.rounds.services.test_charts import NOW, team

pytestmark = pytest.mark.service


async def test_the_endpoint_serves_stored_charts_by_content_hash(db: Database) -> None:
    data = component_chart_png(team(), FRAMEWORK)
    token = db.run_sync(lambda s: save_chart(s, data, NOW))
    assert token == db.run_sync(lambda s: save_chart(s, data, NOW)), "same picture, same token"

    async def lookup(wanted: str) -> bytes | None:
        return await db.run(lambda s: load_chart(s, wanted))

    app = web.Application()
    app.router.add_get("/charts/{token}.png", chart_handler(lookup))
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(chart_url(url, token)) as response:
                assert response.status == 200
                assert response.content_type == "image/png"
                assert "immutable" in response.headers["Cache-Control"]
                assert await response.read() == data
                etag = response.headers["ETag"]
            async with http.get(chart_url(url, token), headers={"If-None-Match": etag}) as again:
                assert again.status == 304
            async with http.get(chart_url(url, "0" * 32)) as unknown:
                assert unknown.status == 404
            async with http.get(f"{url}/charts/..%2Fsecret.png") as malformed:
                assert malformed.status == 404
    finally:
        await runner.cleanup()
