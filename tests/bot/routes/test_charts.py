"""GET /charts/{token}.png (bot.routes.charts): stored charts served by a random token, privately;
deleted with their round."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import Session

from bot.routes.charts import chart_handler
from rounds.services.charts import chart_url, component_chart_png
from store.db import Database
from store.rounds.charts import (
    delete_round_charts,
    load_chart,
    new_chart_token,
    save_chart,
    save_charts,
)
from store.rounds.tables import Round
from tests.bot.cards.test_summary import FRAMEWORK
from tests.conftest import serve
from tests.rounds.services.test_charts import NOW, team

pytestmark = pytest.mark.service


def add_round(session: Session, name: str = "Winter 2026") -> int:
    round_ = Round(
        name=name, framework_id=FRAMEWORK.id, framework_version=FRAMEWORK.version,
        status="closed", opens_at=NOW, closes_at=NOW, created_by="t", created_at=NOW,
        updated_at=NOW,
    )  # fmt: skip
    session.add(round_)
    session.flush()
    assert round_.id is not None
    return round_.id


async def test_the_endpoint_serves_stored_charts_by_a_random_token(db: Database) -> None:
    data = component_chart_png(team(), FRAMEWORK)
    round_id = db.run_sync(add_round)
    token = db.run_sync(lambda s: save_chart(s, data, NOW, round_id=round_id))
    again = db.run_sync(lambda s: save_chart(s, data, NOW, round_id=round_id))
    assert token != again, "the same picture gets a new token: tokens say nothing of the content"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), "secrets.token_urlsafe(32): 256 bits"

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
                assert response.headers["Cache-Control"].split(",")[0] == "private"
                assert await response.read() == data
                etag = response.headers["ETag"]
            async with http.get(chart_url(url, token), headers={"If-None-Match": etag}) as cached:
                assert cached.status == 304
            async with http.get(chart_url(url, "A" * 43)) as unknown:
                assert unknown.status == 404
            async with http.get(chart_url(url, "0" * 32)) as old_style:
                assert old_style.status == 404
            async with http.get(f"{url}/charts/..%2Fsecret.png") as malformed:
                assert malformed.status == 404
    finally:
        await runner.cleanup()


def test_a_rounds_charts_are_deleted_with_it(db: Database) -> None:
    data = component_chart_png(team(), FRAMEWORK)
    first, second = db.run_sync(add_round), db.run_sync(lambda s: add_round(s, "Spring 2027"))
    gone = [db.run_sync(lambda s: save_chart(s, data, NOW, round_id=first)) for _ in range(2)]
    kept = db.run_sync(lambda s: save_chart(s, data, NOW, round_id=second))
    assert db.run_sync(lambda s: delete_round_charts(s, first)) == 2
    assert [db.run_sync(lambda s, t=t: load_chart(s, t)) for t in gone] == [None, None]
    assert db.run_sync(lambda s: load_chart(s, kept)) == data


def test_many_charts_of_a_round_are_stored_at_once(db: Database) -> None:
    data = component_chart_png(team(), FRAMEWORK)
    round_id = db.run_sync(add_round)
    tokens = [new_chart_token() for _ in range(3)]
    assert len(set(tokens)) == 3
    images = {token: data + bytes([n]) for n, token in enumerate(tokens)}
    assert db.run_sync(lambda s: save_charts(s, images, NOW, round_id=round_id)) == 3
    assert [db.run_sync(lambda s, t=t: load_chart(s, t)) for t in tokens] == list(images.values())
    assert db.run_sync(lambda s: delete_round_charts(s, round_id)) == 3


def test_a_batch_of_charts_stored_again_stores_each_once(db: Database) -> None:
    """The close stores its charts a batch a transaction; a batch sent again (its commit went
    unanswered) is not an error and changes nothing."""
    data = component_chart_png(team(), FRAMEWORK)
    round_id = db.run_sync(add_round)
    first = {new_chart_token(): data for _ in range(2)}
    assert db.run_sync(lambda s: save_charts(s, first, NOW, round_id=round_id)) == 2
    both = first | {new_chart_token(): data[:100]}
    assert db.run_sync(lambda s: save_charts(s, both, NOW, round_id=round_id)) == 1
    assert [db.run_sync(lambda s, t=t: load_chart(s, t)) for t in both] == list(both.values())
    assert db.run_sync(lambda s: delete_round_charts(s, round_id)) == 3
