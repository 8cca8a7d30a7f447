"""What /api/messages lets through before any handler or database work: Teams only (channelId
msteams), the two tenant fields agreeing (read from the raw body), application/json exactly, and
a JSON object of sane depth; and what a tenant outside IMPACT_ALLOWED_TENANTS costs (bot/gate.py).
Through the real service on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY
from sqlmodel import select

from bot.config import Settings
from bot.gate import NOTICE_WINDOWS, NOTICES_KEY, REFUSAL_NOTICE
from impact.service import LIMITER_KEY, create_app
from store.db import Database
from store.people import Person
from tests.conftest import Clock
from tests.fakes.connector import FakeConnector
from tests.fakes.loopback import serve
from tests.fakes.teams_client import TeamsUser

pytestmark = pytest.mark.service


def people(db: Database) -> list[Person]:
    return db.run_sync(lambda s: list(s.exec(select(Person)).all()))


async def post_raw(user: TeamsUser, data: bytes | str, content_type: str) -> int:
    assert user.session is not None
    async with user.session.post(
        f"{user.bot_url}/api/messages", data=data, headers={"Content-Type": content_type}
    ) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("channel", ["webchat", "directline", "emulator", "", None, 7])
async def test_activities_not_from_teams_are_refused_before_any_work(
    channel: Any, teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    activity = user.activity(type="message", text="start")
    if channel is None:
        del activity["channelId"]
    else:
        activity["channelId"] = channel
    result = await user.post(activity)
    assert result.status == 403
    assert people(db) == []
    assert user.chat() == []
    # The same message from Teams is handled (and stores the person): the check can fail.
    assert (await user.say("start")).status in (200, 201)
    assert len(people(db)) == 1


async def test_disagreeing_tenant_fields_are_refused(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    activity = user.activity(type="message", text="start")
    activity["conversation"]["tenantId"] = "tenant-other"
    assert (await user.post(activity)).status == 403
    assert people(db) == []
    assert user.chat() == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/jsonx", "application/json-patch+json", "text/json", ""],
)
async def test_only_application_json_is_accepted(
    content_type: str, teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    body = json.dumps(user.activity(type="message", text="start"))
    assert await post_raw(user, body, content_type) == 415
    assert people(db) == []
    assert await post_raw(user, body, "application/json; charset=utf-8") in (200, 201)


@pytest.mark.parametrize(
    "body",
    [
        "null",
        "true",
        "42",
        '"text"',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
    ],
    ids=["null", "true", "number", "string", "deep list", "deep object"],
)
async def test_null_scalar_and_deeply_nested_bodies_get_400(
    body: str, teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    assert await post_raw(user, body, "application/json") == 400
    assert people(db) == []


async def test_a_deep_activity_within_its_size_is_400_not_500(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    nested: Any = "x"
    for _ in range(200):
        nested = {"v": nested}
    result = await user.post(user.activity(type="message", text="start", value=nested))
    assert result.status == 400
    assert people(db) == []


async def test_a_flood_from_a_refused_tenant_costs_a_few_notices_each_counted_in_the_budget(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three people of a tenant the bot does not serve send 10 messages each, and press a
    button. On the old code each message got a notice (30 requests to Teams for 30 activities,
    counted nowhere, so the sender could not leave room for them). Now: one notice (the
    notices' window, 1 a second, leaves no room for a second so soon, and a chat is told once a
    day), counted in the process's one budget; the press gets 403 and no request; one WARNING a
    chat."""
    app = create_app(settings_factory(allowed_tenants="tenant-ours"), db=db, clock=clock)
    runner, url = await serve(app)
    try:
        strangers = [
            TeamsUser(
                bot_url=url,
                connector=connector,
                session=http,
                tenant_id="tenant-other",
                name=f"Stranger {n}",
            )
            for n in range(3)
        ]
        refused = {"activity_type": "message", "verb": "text", "outcome": "refused"}
        refused_before = REGISTRY.get_sample_value("impact_turns_total", refused) or 0.0
        with caplog.at_level(logging.DEBUG, logger="bot.gate"):
            for _ in range(10):
                for stranger in strangers:
                    assert (await stranger.say("start")).status < 300
            assert (await strangers[0].execute("x", "start", {"verb": "start"})).status == 403
    finally:
        await runner.cleanup()
    chats = {stranger.conversation_id for stranger in strangers}
    requests = [call for call in connector.calls if call.conversation_id in chats]
    limiter = app[LIMITER_KEY]
    counted = limiter.tenant("tenant-other")
    assert (len(counted.done), counted.in_flight) == (len(requests), 0), "not in the budget"
    assert len(limiter.key(NOTICES_KEY, NOTICE_WINDOWS).done) == len(requests)
    assert [call.body.get("text") for call in requests] == [REFUSAL_NOTICE]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(strangers)
    assert people(db) == []
    refused_after = REGISTRY.get_sample_value("impact_turns_total", refused) or 0.0
    assert refused_after - refused_before == 30, "each refused message counted as refused"
