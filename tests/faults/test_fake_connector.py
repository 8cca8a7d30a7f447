"""The fake Teams is as hard to please as the real one (issue 11 §2), so that a test passing
against it means something."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.connector import MAX_MESSAGE_BYTES, Failure, FakeConnector, TeamsLimits

pytestmark = pytest.mark.service

TENANT = "tenant-fake"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any, str | None]:
    """A request with its JSON body in UTF-8, not escaped: what was sent is what counts."""
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with http.request(method, url, data=data, headers=headers) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def test_roster_reads_are_rate_limited_and_can_fail(http: aiohttp.ClientSession) -> None:
    fake = FakeConnector(limits=TeamsLimits(per_tenant=((2, 1.0),)))
    await fake.start()
    try:
        fake.add_conversation("19:team", [{"id": "29:a"}], tenant_id=TENANT)
        roster = f"{fake.url}v3/conversations/19:team/pagedmembers"
        fake.fail_next(1, Failure(503, "ServiceUnavailable", kinds=frozenset({"members"})))
        statuses = [(await call(http, "GET", roster))[0] for _ in range(3)]
        assert statuses == [503, 200, 429]  # injected; fine; over the tenant's 2 a second
        assert fake.violations[0].kind == "members"
        assert fake.violations[0].held == (("members", 2),)  # what filled the window
        assert fake.violations[0].describe() == (
            f"members to tenant:{TENANT} over 2/1s (the window held 2 members)"
        )
    finally:
        await fake.stop()


async def test_throttles_come_sometimes_without_retry_after(http: aiohttp.ClientSession) -> None:
    fake = FakeConnector(throttle_share=1.0, seed=3)
    await fake.start()
    try:
        fake.add_conversation("19:c", tenant_id=TENANT)
        answers = [
            await call(
                http, "POST", f"{fake.url}v3/conversations/19:c/activities", {"type": "message"}
            )
            for _ in range(20)
        ]
        assert {status for status, _, _ in answers} == {429}
        retry_after = [header for _, _, header in answers]
        assert None in retry_after
        assert any(header is not None for header in retry_after)
    finally:
        await fake.stop()


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ({"members": [{"id": "29:a"}], "tenantId": TENANT}, "Bot is required"),
        ({"bot": {"id": "28:b"}, "tenantId": TENANT}, "Members are required"),
        ({"bot": {"id": "28:b"}, "members": [{}], "tenantId": TENANT}, "Every member needs an id"),
        ({"bot": {"id": "28:b"}, "members": [{"id": "29:a"}]}, "Tenant is required"),
    ],
)
async def test_create_conversation_bodies_are_validated(
    http: aiohttp.ClientSession, body: dict[str, Any], refusal: str
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        status, answer, _ = await call(http, "POST", f"{fake.url}v3/conversations", body)
        assert (status, answer["error"]["code"], answer["error"]["message"]) == (
            400,
            "BadArgument",
            refusal,
        )
    finally:
        await fake.stop()


async def test_the_size_limit_is_the_bodys_bytes_as_sent(http: aiohttp.ClientSession) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        fake.add_conversation("19:c", tenant_id=TENANT)
        url = f"{fake.url}v3/conversations/19:c/activities"
        # 9,000 characters, but 27,000 bytes in UTF-8 (plus the envelope): over 28 KB?
        small = {"type": "message", "text": "€" * 9_000}
        large = {"type": "message", "text": "€" * 9_700}
        assert (await call(http, "POST", url, small))[0] == 201
        status, answer, _ = await call(http, "POST", url, large)
        assert (status, answer["error"]["code"]) == (413, "MessageSizeTooBig")
        assert len(large["text"]) < MAX_MESSAGE_BYTES < len(large["text"].encode())
    finally:
        await fake.stop()


async def test_delivered_then_failed_is_counted_as_a_duplicate_when_sent_again(
    http: aiohttp.ClientSession,
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        fake.add_conversation("19:c", tenant_id=TENANT)
        url = f"{fake.url}v3/conversations/19:c/activities"
        fake.deliver_then_fail_next(1, 502)
        message = {"type": "message", "text": "hello"}
        assert (await call(http, "POST", url, message))[0] == 502
        assert fake.received()["19:c"] == 1  # it was delivered all the same
        assert (await call(http, "POST", url, message))[0] == 201
        assert fake.duplicates() == 1
    finally:
        await fake.stop()
