"""Long reads in a worker process (store.process_reads): a round's results computed there are
the ones computed here, the work really runs in another process, on one connection for the
worker's life, a worker that died is replaced by the next read, and the service stops its
worker when it is cleaned up."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from datetime import date

import pytest
from sqlmodel import Session

from bot.config import Settings
from impact.service import CONTEXT_KEY, create_app
from rounds.services.steps import frozen_rows
from store.db import Database
from store.process_reads import WORKER_NICENESS, ProcessReads
from tests.fakes.loopback import serve
from tests.store.rounds.test_frozen import members
from tests.store.rounds.test_results import FRAMEWORK, World


def evidence(session: Session, team_id: int, today: date) -> list[tuple[int, str]]:
    return [(18, f"Held 2 of 3 huddles, team {team_id}, {today:%d %B}")]


def process_id(_session: Session) -> int:
    return os.getpid()


def reads_on_this_connection(session: Session) -> int:
    """How many reads the connection under this session has served (kept in SQLAlchemy's
    per-connection `info`, which lives as long as the DBAPI connection)."""
    info = session.connection().info
    info["reads"] = info.get("reads", 0) + 1
    return int(info["reads"])


def niceness(_session: Session) -> int:
    return os.nice(0)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.service
async def test_results_computed_in_the_worker_are_those_computed_here(db: Database) -> None:
    built = World(db).round(members(), role_question=True)
    compute = functools.partial(
        frozen_rows, built.round_id, FRAMEWORK, 5, 5, evidence, date(2026, 12, 9)
    )
    reads = ProcessReads(db.url)
    try:
        there = await reads.read(compute)
        worker = await reads.read(process_id)
    finally:
        reads.close()
    assert worker != os.getpid(), "read in another process"
    assert there == db.read_sync(compute)
    assert any("09 December" in row for row in there.values()), "the evidence came with them"
    assert _gone(worker), "closed: the worker has exited"
    with pytest.raises(RuntimeError, match="closed"):
        await reads.read(process_id)


@pytest.mark.service
async def test_an_error_in_the_worker_reaches_the_caller(db: Database) -> None:
    reads = ProcessReads(db.url)
    try:
        with pytest.raises(LookupError, match="no round 404"):
            await reads.read(
                functools.partial(frozen_rows, 404, FRAMEWORK, 5, 5, None, date.today())
            )
    finally:
        reads.close()


@pytest.mark.service
async def test_the_worker_reads_on_one_connection_for_its_life(db: Database) -> None:
    """A due tick reads a batch every few hundred milliseconds: the worker opens its database
    once, when it starts, not once a read."""
    reads = ProcessReads(db.url)
    try:
        await reads.start()
        assert reads.started
        counted = [await reads.read(reads_on_this_connection) for _ in range(3)]
    finally:
        reads.close()
    assert counted == [1, 2, 3]


@pytest.mark.service
async def test_the_worker_runs_at_a_lower_cpu_priority_than_the_service(db: Database) -> None:
    """Its work is all background work: on the same cores, the service's turns go first."""
    reads = ProcessReads(db.url)
    try:
        there = await reads.read(niceness)
    finally:
        reads.close()
    assert there == min(os.nice(0) + WORKER_NICENESS, 19)
    assert there > os.nice(0) or os.nice(0) == 19


@pytest.mark.service
async def test_a_worker_that_died_is_replaced_by_the_next_read(db: Database) -> None:
    reads = ProcessReads(db.url)
    try:
        first = await reads.read(process_id)
        os.kill(first, signal.SIGKILL)  # e.g. the kernel's OOM killer
        with pytest.raises(BrokenProcessPool):  # the read that finds out
            await reads.read(process_id)
        second = await reads.read(process_id)
        assert second not in (first, os.getpid())
        assert await reads.read(reads_on_this_connection) == 1, "a new worker, its own connection"
    finally:
        reads.close()


@pytest.mark.service
async def test_the_service_stops_its_worker_at_cleanup(
    settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(settings_factory())
    runner, _url = await serve(app)
    reads = app[CONTEXT_KEY].process_reads
    assert reads is not None
    assert not reads.started, "no worker until a long read asks for one"
    worker = await reads.read(process_id)
    await runner.cleanup()
    assert not reads.started
    assert _gone(worker)


@pytest.mark.unit
def test_an_in_memory_sqlite_database_is_read_in_process() -> None:
    assert not ProcessReads.available("sqlite://")
    assert not ProcessReads.available("sqlite:///:memory:")
    assert ProcessReads.available("sqlite:////tmp/impact.db")
    assert ProcessReads.available("postgresql+psycopg://postgres@127.0.0.1:5432/test")
