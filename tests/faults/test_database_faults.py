"""The service when its database misbehaves (issue 11 §3), driven as Teams drives it.

- PostgreSQL going silent behind a loopback TCP proxy that stops forwarding without closing
  anything (tests/faults/proxy.py);
- SQLite held by another process's BEGIN IMMEDIATE for 20 s.

In both: /readyz answers 503 within 5 s, a card pressed meanwhile gets the apology within 10 s
saying that nothing was changed (and nothing was), and once the database is back the same card
records the answer, once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.config import load_settings
from impact.service import create_app
from store.assessments.tables import Answer
from store.db import Database
from store.schema import upgrade
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser
from tests.faults.proxy import FaultyProxy

pytestmark = pytest.mark.service

APOLOGY_WITHIN_S = 10.0
READY_WITHIN_S = 5.0

HOLD_SQLITE = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


class Fault:
    """Start and end one database fault; `url` is what the service connects to."""

    url = ""

    async def begin(self) -> None: ...

    async def end(self) -> None: ...


class SilentPostgres(Fault):
    def __init__(self, postgres_url: str) -> None:
        parsed = make_url(postgres_url)
        self.proxy = FaultyProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        self._parsed = parsed

    async def start(self) -> None:
        port = await self.proxy.start()
        self.url = self._parsed.set(port=port).render_as_string(hide_password=False)

    async def begin(self) -> None:
        self.proxy.silence()

    async def end(self) -> None:
        self.proxy.restore()

    async def stop(self) -> None:
        await self.proxy.stop()


class LockedSqlite(Fault):
    def __init__(self, path: Path, seconds: float = 20.0) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.seconds = seconds
        self.holder: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        return None

    async def begin(self) -> None:
        self.holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_SQLITE,
            str(self.path),
            str(self.seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.holder.stdout is not None
        line = await self.holder.stdout.readline()
        assert line.strip() == b"locked"

    async def end(self) -> None:
        if self.holder is not None:
            await asyncio.wait_for(self.holder.wait(), self.seconds + 10)

    async def stop(self) -> None:
        if self.holder is not None and self.holder.returncode is None:
            self.holder.kill()
            await self.holder.wait()


@pytest.fixture(params=["postgresql-silent", "sqlite-locked"])
async def fault(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    made: SilentPostgres | LockedSqlite
    if request.param == "postgresql-silent":
        made = SilentPostgres(str(request.getfixturevalue("postgres_url")))
    else:
        made = LockedSqlite(tmp_path / "impact.db")
    await made.start()
    yield made
    await made.stop()


async def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call()
    return result, time.monotonic() - started


async def test_the_database_going_silent_or_locked(
    fault: Any, connector: FakeConnector, http: aiohttp.ClientSession, clock: Clock
) -> None:
    """Fault: the database stops answering (PostgreSQL silent behind a proxy; SQLite locked by
    another process for 20 s) while a person answers a question.
    Outcome: /readyz 503 within 5 s; the apology within 10 s, saying nothing was changed, and
    nothing was; after recovery the same card records the answer once."""
    db = Database(fault.url, pool_size=4)
    await asyncio.to_thread(upgrade, db.engine)
    app = create_app(
        load_settings(database_url=fault.url, app_id="", port=3978), db=db, clock=clock
    )
    runner, url = await serve(app)
    try:
        user = TeamsUser(bot_url=url, connector=connector, session=http)
        await user.install()
        await user.press("Start")
        card_id, _ = user.last_card()

        await fault.begin()

        async def ready() -> int:
            async with http.get(f"{url}/readyz") as response:
                return response.status

        status, took = await timed(ready)
        print(f"\n{fault.url.split(':')[0]}: /readyz {status} in {took:.2f}s")
        assert status == 503
        assert took < READY_WITHIN_S, f"/readyz took {took:.1f}s"

        async def answer() -> Any:
            return await user.press("Next", {"level": "2", "comment": ""}, card_id=card_id)

        result, took = await timed(answer)
        print(f"{fault.url.split(':')[0]}: the apology in {took:.2f}s")
        assert took < APOLOGY_WITHIN_S, f"the apology took {took:.1f}s"
        message = result.body["value"]["message"]
        assert "nothing was changed" in message

        await fault.end()

        def answers() -> list[tuple[int, int | None, int]]:
            return [
                (row.question_number, row.level, row.revision)
                for row in db.run_sync(lambda s: s.exec(select(Answer)).all())
            ]

        assert await asyncio.to_thread(answers) == []  # nothing was changed indeed

        async def recovered() -> bool:
            return await ready() == 200

        for _ in range(100):
            if await recovered():
                break
            await asyncio.sleep(0.2)
        result = await answer()
        assert result.status == 200
        assert "nothing was changed" not in str(result.body)
        assert await asyncio.to_thread(answers) == [(1, 2, 1)]
    finally:
        await runner.cleanup()
        await asyncio.to_thread(db.dispose)
