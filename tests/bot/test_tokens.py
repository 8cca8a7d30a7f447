"""Bot Framework tokens, tested for real: with MicrosoftAppId set, the SDK validates every request
against OpenID metadata and signing keys that this test serves on loopback, signed with its own
RSA key. The SDK is pointed at them through its own setting,
`ChannelValidation.open_id_metadata_endpoint` (the production code path, the public cloud's
`JwtTokenValidation`, otherwise unchanged). On SQLite and PostgreSQL.

Each bad token gets 401 (not 500), stores nothing, and is logged on one line without the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
import requests
from aiohttp import web
from botframework.connector.auth import ChannelValidation
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlmodel import select

from bot import adapter as adapter_module
from bot.config import Settings
from impact.service import create_app
from store.db import Database
from store.teams import Team
from tests.conftest import Clock, serve

pytestmark = pytest.mark.service

APP_ID = "9a1b2c3d-0000-4000-8000-000000000001"
TENANT = "tenant-nhs-trust"
ISSUER = "https://api.botframework.com"
SERVICE_URL = "https://smba.trafficmanager.net/uk/"


@dataclass
class Issuer:
    """A Bot Framework token service of our own: OpenID metadata + JWKS on loopback."""

    key: rsa.RSAPrivateKey
    kid: str
    url: str
    fetch_threads: list[str]


@pytest.fixture
async def issuer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", endorsements=["msteams"])
    fetch_threads: list[str] = []

    async def metadata(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{base}/keys"})

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/openid", metadata)
    app.router.add_get("/keys", keys)
    runner, url = await serve(app)
    # The SDK's own setting for where the channel's OpenID metadata lives.
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", f"{url}/openid")
    real_get = requests.get

    def recording_get(*args: Any, **kwargs: Any) -> Any:
        fetch_threads.append(threading.current_thread().name)
        assert kwargs.get("timeout") == adapter_module.SIGNING_KEYS_TIMEOUT_SECONDS
        return real_get(*args, **kwargs)

    monkeypatch.setattr(requests, "get", recording_get)
    yield Issuer(key, kid, url, fetch_threads)
    await runner.cleanup()


def token(issuer: Issuer, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": SERVICE_URL,
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + 3600,
    }
    headers = {"kid": issuer.kid}
    headers.update(changes.pop("headers", {}))
    key = changes.pop("key", issuer.key)
    claims.update(changes)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def unsigned(issuer: Issuer) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": APP_ID, "serviceurl": SERVICE_URL, "exp": now + 3600}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})


def install_activity() -> dict[str, Any]:
    """The bot added to a team: accepted, it stores the team (and sends nothing)."""
    team_id = f"19:{uuid.uuid4().hex}@thread.tacv2"
    return {
        "type": "conversationUpdate",
        "id": f"f:{uuid.uuid4().hex}",
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
        "from": {"id": "29:someone", "aadObjectId": str(uuid.uuid4())},
        "recipient": {"id": f"28:{APP_ID}", "name": "NHS IMPACT"},
        "membersAdded": [{"id": f"28:{APP_ID}"}],
        "conversation": {
            "id": team_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        "channelData": {
            "tenant": {"id": TENANT},
            "eventType": "teamMemberAdded",
            "team": {"id": team_id, "name": "Ward 7", "aadGroupId": str(uuid.uuid4())},
        },
    }


@pytest.fixture
async def authenticated_bot(
    db: Database, settings_factory: Callable[..., Settings], clock: Clock, issuer: Issuer
) -> AsyncIterator[str]:
    settings = settings_factory(
        app_id=APP_ID, app_password="not-a-real-secret", allowed_tenants=TENANT
    )
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    yield url
    await runner.cleanup()


async def post(url: str, body: Any, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/api/messages", json=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def teams(db: Database) -> list[Team]:
    return db.run_sync(lambda s: list(s.exec(select(Team)).all()))


async def test_a_valid_token_is_accepted_and_keys_are_fetched_off_the_loop(
    authenticated_bot: str, issuer: Issuer, db: Database
) -> None:
    status = await post(
        authenticated_bot, install_activity(), {"Authorization": f"Bearer {token(issuer)}"}
    )
    assert status in (200, 201)
    assert [t.tenant_id for t in teams(db)] == [TENANT]
    assert issuer.fetch_threads, "the signing keys were not fetched through the adapter"
    assert threading.main_thread().name not in issuer.fetch_threads


BAD_TOKENS: dict[str, Callable[[Issuer], str]] = {
    "expired": lambda i: token(i, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
    "wrong audience": lambda i: token(i, aud="someone-elses-app"),
    "wrong issuer": lambda i: token(i, iss="https://evil.example.com"),
    "bad signature": lambda i: token(
        i, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ),
    "alg none": unsigned,
    "unknown key id": lambda i: token(i, headers={"kid": "no-such-key"}),
    "service URL differs": lambda i: token(i, serviceurl="https://attacker.example.com/"),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_bad_token_gets_401_stores_nothing_and_one_log_line_without_it(
    case: str,
    authenticated_bot: str,
    issuer: Issuer,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = BAD_TOKENS[case](issuer)
    with caplog.at_level(logging.INFO):
        status = await post(
            authenticated_bot, install_activity(), {"Authorization": f"Bearer {bad}"}
        )
    assert status == 401
    assert teams(db) == []
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "refused request" in lines[0].getMessage()
    assert bad not in caplog.text
    assert bad.split(".")[1] not in caplog.text  # not even the claims


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer  x y"],
)
async def test_a_missing_or_malformed_header_gets_401_and_stores_nothing(
    header: str | None,
    authenticated_bot: str,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {} if header is None else {"Authorization": header}
    with caplog.at_level(logging.INFO):
        status = await post(authenticated_bot, install_activity(), headers)
    assert status == 401
    assert teams(db) == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_unreachable_signing_keys_are_503_not_500(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    issuer: Issuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        ChannelValidation, "open_id_metadata_endpoint", "http://127.0.0.1:1/unreachable"
    )
    settings = settings_factory(app_id=APP_ID, app_password="x", allowed_tenants=TENANT)
    runner, url = await serve(create_app(settings, db=db, clock=clock))
    try:
        bad_kid = token(issuer)
        status = await post(url, install_activity(), {"Authorization": f"Bearer {bad_kid}"})
    finally:
        await runner.cleanup()
    assert status == 503
    assert teams(db) == []


async def test_a_slow_key_server_does_not_stall_the_event_loop(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetch runs on a worker thread: the loop keeps turning while it waits."""
    release = threading.Event()

    def slow_get(*_args: Any, **kwargs: Any) -> Any:
        assert kwargs["timeout"] == adapter_module.SIGNING_KEYS_TIMEOUT_SECONDS
        release.wait(5)
        raise requests.Timeout("slow")

    monkeypatch.setattr(requests, "get", slow_get)

    class Metadata:
        url = f"{issuer.url}/openid"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            if ticks >= 5:
                release.set()
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    with pytest.raises(adapter_module.SigningKeysUnavailable):
        await adapter_module._refresh_signing_keys(Metadata())
    await ticking
    assert ticks >= 5
