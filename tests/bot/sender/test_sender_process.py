"""The outbox sender in a child process of the service's (bot/sender/process.py), with real
processes, a real database (an SQLite file and PostgreSQL) and the fake connector for Teams.

The child is `impact-bot outbox send --budget-fd N`; the service keeps the one budget and serves
it over the socket pair (bot/sender/budget_link.py). Each test starts a real child: woken at
once when something is queued, counted in the service's limiter, restarted after kill -9 without
sending anything twice, stopped by the service with what it had in flight recorded, stopping by
itself when the service has gone, and started and stopped with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import Session, select

from bot.config import Settings, child_environment
from bot.sender.budget_link import BudgetServer
from bot.sender.limits import Permit, RateLimiter, RateLimits
from bot.sender.process import SenderProcess
from impact.service import CONTEXT_KEY, create_app
from store import outbox
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.types import utcnow
from tests.fakes.connector import FakeConnector, TeamsLimits
from tests.fakes.loopback import serve
from tests.paths import REPO
from tests.waiting import until

pytestmark = pytest.mark.service

TENANT = "tenant-senderproc"
STARTS_WITHIN_S = 30.0  # a child's start: an interpreter and the bot's imports, on a busy machine


def queue(db: Database, fake: FakeConnector, names: list[str], tenant: str = TENANT) -> None:
    """One message to each chat `names` (known to the fake, in `tenant`), due now."""
    for name in names:
        fake.add_conversation(name, tenant_id=tenant)

    def work(session: Session) -> None:
        for name in names:
            outbox.enqueue(
                session, dedupe_key=f"test:{name}", kind="test", tenant_id=tenant,
                target=Target.conversation(name, fake.url),
                activity={"type": "message", "text": f"hello {name}"}, now=utcnow(),
            )  # fmt: skip

    db.run_sync(work)


def delivered(fake: FakeConnector, names: list[str]) -> bool:
    received = fake.received()
    return all(received[name] >= 1 for name in names)


def rows(db: Database) -> list[OutboxMessage]:
    return list(db.run_sync(lambda s: s.exec(select(OutboxMessage)).all()))


def gone(pid: int) -> bool:
    """The process has exited and been reaped."""
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(sender_process=True, log_format="text")


@contextlib.asynccontextmanager
async def running(process: SenderProcess) -> AsyncIterator[asyncio.Event]:
    """`process` running (its child started and connected) until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    try:
        await until(lambda: process.server.connected == 1, STARTS_WITHIN_S, "the child")
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_queued_message_leaves_at_once_when_the_child_is_woken(
    db: Database, settings: Settings, connector: FakeConnector
) -> None:
    process = SenderProcess(settings, BudgetServer(RateLimiter()), poll_seconds=60)
    async with running(process):
        queue(db, connector, ["first"])
        process.wake()
        await until(lambda: delivered(connector, ["first"]), STARTS_WITHIN_S, "the first")
        await asyncio.sleep(0.3)  # the child waits now, for a minute unless woken
        queue(db, connector, ["second"])
        woken = time.monotonic()
        process.wake()
        await until(lambda: delivered(connector, ["second"]), 5, "the second message")
        assert time.monotonic() - woken < 0.5
    assert [row.status for row in rows(db)] == ["sent", "sent"]


async def test_the_childs_requests_count_in_the_services_one_budget(
    db: Database, settings: Settings
) -> None:
    """The service holds the tenant's whole window (50 requests in flight): the child sends
    nothing. Those 50 reach Teams; the child's requests wait until they have left the window
    (a second), and Teams sees no limit exceeded."""
    fake = FakeConnector(limits=TeamsLimits())
    await fake.start()
    limiter = RateLimiter(RateLimits.from_settings(settings))
    process = SenderProcess(settings, BudgetServer(limiter), poll_seconds=60)
    ours = [f"service-{n}" for n in range(50)]
    theirs = [f"child-{n}" for n in range(20)]
    for name in ours:
        fake.add_conversation(name, tenant_id=TENANT)
    try:
        async with running(process):
            queue(db, fake, ["warm-up"], tenant="another-tenant")
            await until(lambda: delivered(fake, ["warm-up"]), STARTS_WITHIN_S, "the child")
            permits = [limiter.take([limiter.tenant(TENANT)]) for _ in ours]
            queue(db, fake, theirs)
            process.wake()
            await asyncio.sleep(1.5)
            assert fake.received()["warm-up"] == 1
            assert len(fake.calls) == 1  # the service's budget had no room for the child
            async with aiohttp.ClientSession() as http:

                async def send(name: str, permit: Permit) -> None:
                    url = f"{fake.url}v3/conversations/{name}/activities"
                    async with http.post(url, json={"type": "message", "text": "reply"}) as got:
                        assert got.status == 201
                    permit.finish()

                await asyncio.gather(*(send(n, p) for n, p in zip(ours, permits, strict=True)))
            await until(lambda: delivered(fake, theirs), 15, "the child's messages")
    finally:
        await fake.stop()
    assert fake.violations == []
    last_of_ours = max(c.at for c in fake.calls if c.conversation_id in ours)
    first_of_theirs = min(c.at for c in fake.calls if c.conversation_id in theirs)
    assert first_of_theirs - last_of_ours > 0.9  # the window's second, counted by the service
    assert {row.status for row in rows(db)} == {"sent"}


async def test_a_killed_child_is_started_again_and_sends_the_rest_once(
    db: Database, settings: Settings, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    process = SenderProcess(settings, BudgetServer(RateLimiter()))
    first = [f"before-{n}" for n in range(5)]
    rest = [f"after-{n}" for n in range(5)]
    async with running(process):
        queue(db, connector, first)
        process.wake()
        await until(lambda: delivered(connector, first), STARTS_WITHIN_S, "the first messages")
        # idle: nothing in flight, every outcome recorded (a kill before its record is the
        # documented window for a duplicate, not what this test is about)
        await until(lambda: {r.status for r in rows(db)} == {"sent"}, 15, "their outcomes")
        victim = process.pid
        assert victim is not None
        with caplog.at_level(logging.ERROR, logger="bot.sender.process"):
            os.kill(victim, signal.SIGKILL)
            queue(db, connector, rest)
            await until(lambda: process.pid not in (None, victim), STARTS_WITHIN_S, "another")
        await until(lambda: delivered(connector, rest), STARTS_WITHIN_S, "the rest")
        assert process.server.connected == 1
        assert gone(victim)
    assert "the outbox sender process exited (killed by SIGKILL)" in caplog.text
    assert process.restarts == 1
    received = connector.received()
    assert [name for name in first + rest if received[name] != 1] == []
    assert connector.duplicates() == 0
    assert {row.status for row in rows(db)} == {"sent"}


async def test_stopping_finishes_and_records_the_childs_requests_in_flight(
    db: Database, settings: Settings, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    process = SenderProcess(settings, BudgetServer(RateLimiter()), stop_seconds=15)
    names = [f"held-{n}" for n in range(10)]
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    try:
        await until(lambda: process.server.connected == 1, STARTS_WITHIN_S, "the child")
        child = process.pid
        assert child is not None
        connector.hold()
        queue(db, connector, names)
        process.wake()
        await until(lambda: connector.held == len(names), STARTS_WITHIN_S, "requests held")
        os.kill(child, signal.SIGINT)  # Ctrl-C: the service's to act on, not the child's
        await asyncio.sleep(0.3)
        assert process.pid == child
        with caplog.at_level(logging.INFO, logger="bot.sender.process"):
            stopping = time.monotonic()
            stop.set()
            await asyncio.sleep(0.5)  # SIGTERM has arrived; the requests are still held
            assert not task.done()
            connector.release()
            await asyncio.wait_for(task, 15)
        assert time.monotonic() - stopping < 5
    finally:
        stop.set()
        connector.release()
        await asyncio.wait_for(task, 30)
    assert f"outbox sender process {child} stopped (exit code 0)" in caplog.text
    assert process.restarts == 0
    assert gone(child)
    assert process.server.connected == 0
    found = rows(db)
    assert [row.id for row in found if row.status == "pending" and row.lease_owner] == []
    assert {row.status for row in found} == {"sent"}
    assert connector.accepted("send") == len(names)


async def test_the_child_stops_by_itself_when_the_service_has_gone(
    db: Database, settings: Settings, connector: FakeConnector
) -> None:
    """The service's end of the connection closes without a SIGTERM (the service died): the
    child finishes its request in flight, records it and exits."""
    server = BudgetServer(RateLimiter())
    ours, theirs = socket.socketpair()
    child = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "impact", "outbox", "send", "--budget-fd", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        env=child_environment(settings, os.environ),
        cwd=REPO,
    )
    theirs.close()
    reader, writer = await asyncio.open_connection(sock=ours)
    serving = asyncio.create_task(server.serve(reader, writer))
    try:
        connector.hold()
        queue(db, connector, ["last words"])
        await until(lambda: connector.held == 1, STARTS_WITHIN_S, "the request held at Teams")
        serving.cancel()  # the service's end closes, as when it dies
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await asyncio.sleep(0.5)
        assert child.returncode is None  # it waits for its request in flight
        connector.release()
        assert await asyncio.wait_for(child.wait(), 10) == 0
    finally:
        connector.release()
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert [row.status for row in rows(db)] == ["sent"]  # finished and recorded


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[16])


def children_sending(parent: int) -> list[int]:
    """This process's child processes that run `outbox send --budget-fd`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if ppid == parent and b"--budget-fd" in command:
                found.append(int(proc.name))
    return found


async def test_the_service_starts_its_sender_process_and_stops_it_on_cleanup(
    db: Database, settings_factory: Callable[..., Settings], connector: FakeConnector
) -> None:
    settings = settings_factory(sender_process=True, reconcile_seconds=60)
    app = create_app(settings, db=db, background=True)
    runner, _url = await serve(app)
    try:
        await until(lambda: len(children_sending(os.getpid())) == 1, STARTS_WITHIN_S, "a child")
        [child] = children_sending(os.getpid())
        queue(db, connector, ["through the service"])
        app[CONTEXT_KEY].wake_sender()
        await until(lambda: delivered(connector, ["through the service"]), STARTS_WITHIN_S, "it")
        assert niceness(child) == min(niceness(os.getpid()) + settings.sender_niceness, 19)
    finally:
        await runner.cleanup()
    assert gone(child)
    assert children_sending(os.getpid()) == []
