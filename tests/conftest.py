"""Shared fixtures: a real database (SQLite and PostgreSQL), the real service on loopback, and the
fake Bot Connector that stands in for Teams.

Storage and conversation tests take the `database_url` fixture, which runs them once on SQLite
and once on PostgreSQL. PostgreSQL tests make a throwaway database on the server named by
IMPACT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and drop it after.
With no server there they are skipped with a message; CI sets IMPACT_REQUIRE_POSTGRES=1 so that
a missing server fails instead.

Every test is exactly one of three kinds, by marker: `unit` (pure: no database, no network; a
unit test that tries either fails), `service` (a real database, the real service on loopback) or
`e2e` (Microsoft 365 Agents Playground in Chromium). `make test-fast` runs the unit tests.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg import sql

import store.db
from bot.config import Settings, load_settings
from impact.service import create_app
from store.db import Database
from store.schema import upgrade
from tests.fakes.connector import FakeConnector
from tests.fakes.loopback import serve as serve
from tests.fakes.teams_client import TeamsUser

POSTGRES_URL = os.environ.get(
    "IMPACT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("IMPACT_REQUIRE_POSTGRES") == "1"
BACKENDS = [
    b.strip() for b in os.environ.get("IMPACT_TEST_BACKENDS", "sqlite,postgresql").split(",")
]


def _postgres_admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL not reachable at {POSTGRES_URL} ({str(exc).strip().splitlines()[0]}). "
            "Start it (e.g. `pg_ctlcluster 15 main start`) or point IMPACT_TEST_POSTGRES_URL "
            "at a server where this user may create databases."
        )
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"impact_test_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with _postgres_admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=[b for b in ("sqlite", "postgresql") if b in BACKENDS])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'impact.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=4)
    upgrade(database.engine)
    yield database
    database.dispose()


class Clock:
    """Time the tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))


@pytest.fixture
def settings_factory(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        # The sender in the service's own process unless a test asks for its child process.
        values: dict[str, Any] = {
            "database_url": database_url,
            "app_id": "",
            "port": 3978,
            "sender_process": False,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot_url(
    db: Database, settings_factory: Callable[..., Settings], clock: Clock
) -> AsyncIterator[str]:
    """The real service (aiohttp + CloudAdapter + handler + database) on a loopback port."""
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    yield url
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def teams_user(
    bot_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> Callable[..., TeamsUser]:
    def make(**fields: Any) -> TeamsUser:
        return TeamsUser(bot_url=bot_url, connector=connector, session=http, **fields)

    return make


# ---- test kinds -----------------------------------------------------------------------------

KINDS = ("unit", "service", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kinds = [kind for kind in KINDS if item.get_closest_marker(kind)]
        if len(kinds) != 1:
            raise pytest.UsageError(
                f"{item.nodeid}: mark it with exactly one of {', '.join(KINDS)} (found {kinds})"
            )


class ImpureUnitTest(AssertionError):
    """A test marked `unit` reached for the network or a database."""


@pytest.fixture(autouse=True)
def _unit_tests_stay_pure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise ImpureUnitTest(f"{request.node.nodeid} is marked unit but used the network or a DB")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(store.db, "create_db_engine", refuse)
    monkeypatch.setattr(store.db.Database, "__init__", refuse)
