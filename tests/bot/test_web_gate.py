"""What /api/messages lets through before any handler or database work: Teams only (channelId
msteams), the two tenant fields agreeing (read from the raw body), application/json exactly, and
a JSON object of sane depth. Through the real service on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from store.db import Database
from store.people import Person
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
