"""Leader election on PostgreSQL (advisory lock) and SQLite (file lock): exactly one leads, and
when the leader's session or process dies another takes over within seconds."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from scheduler.leader import LEADER_LOCK_KEY, LeaderElection
from store.db import normalise_url
from tests.paths import REPO

pytestmark = pytest.mark.service

HANDOVER_TIMEOUT = 10.0  # seconds; handover is expected within one retry interval

HOLD_LEADERSHIP = """
import asyncio, sys
from scheduler.leader import LeaderElection

async def main():
    election = LeaderElection(sys.argv[1])
    print("leader" if await election.acquire() else "follower", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def eventually(condition: Callable[[], Awaitable[bool]]) -> float:
    """Poll `condition` until it holds; return how long that took. Fails after
    HANDOVER_TIMEOUT."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > HANDOVER_TIMEOUT:
            pytest.fail(f"condition still false after {HANDOVER_TIMEOUT} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
async def elections() -> AsyncIterator[list[LeaderElection]]:
    made: list[LeaderElection] = []
    yield made
    for election in made:
        await election.release()


def fast_election(url: str) -> LeaderElection:
    return LeaderElection(url, retry_seconds=0.1, check_seconds=0.1, timeout_seconds=2.0)


def _new(made: list[LeaderElection], url: str) -> LeaderElection:
    election = fast_election(url)
    made.append(election)
    return election


async def test_exactly_one_leads_and_release_hands_over(
    database_url: str, elections: list[LeaderElection]
) -> None:
    first, second = _new(elections, database_url), _new(elections, database_url)

    assert await first.acquire()
    assert not await second.acquire()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert await first.acquire()  # asking again while leading changes nothing
    assert await first.check()
    assert not await second.acquire()

    await first.release()
    assert not first.is_leader
    assert await second.acquire()
    assert not await first.acquire()


async def test_a_killed_leader_process_is_replaced(
    database_url: str, elections: list[LeaderElection]
) -> None:
    """SIGKILL: no clean-up runs in the leader; the server (or the OS) drops its lock."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_LEADERSHIP,
        database_url,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.decode().strip() == "leader"
        follower = _new(elections, database_url)
        assert not await follower.acquire()

        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
        waited = await eventually(follower.acquire)
        assert follower.is_leader
        assert waited < 5
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_run_hands_over_when_the_leaders_connection_dies(
    postgres_url: str, elections: list[LeaderElection]
) -> None:
    """The server ends the leader's session (as it would after a network failure): the leader
    notices at its next check and stops; the follower takes over."""
    one, two = _new(elections, postgres_url), _new(elections, postgres_url)
    events: list[tuple[str, str]] = []
    stop = asyncio.Event()

    def callbacks(name: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
        async def elected() -> None:
            events.append((name, "elected"))

        async def lost() -> None:
            events.append((name, "lost"))

        return elected, lost

    tasks = [
        asyncio.create_task(one.run(*callbacks("one"), stop)),
        asyncio.create_task(two.run(*callbacks("two"), stop)),
    ]
    try:

        async def one_leads() -> bool:
            return [one.is_leader, two.is_leader].count(True) == 1

        await eventually(one_leads)
        leader, follower = (one, two) if one.is_leader else (two, one)
        leader_name = "one" if leader is one else "two"
        assert events == [(leader_name, "elected")]

        with psycopg.connect(postgres_url, autocommit=True) as admin:
            terminated = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND objid::bigint = %s"
                " AND database = (SELECT oid FROM pg_database"
                "                 WHERE datname = current_database())",
                (LEADER_LOCK_KEY,),
            ).fetchall()
        assert terminated == [(True,)]

        follower_name = "two" if leader_name == "one" else "one"

        async def handed_over() -> bool:
            return (
                follower.is_leader
                and not leader.is_leader
                and (leader_name, "lost") in events
                and (follower_name, "elected") in events
            )

        await eventually(handed_over)
        # The two processes' callbacks are not ordered against each other: the old leader
        # stops as soon as its check fails, the new one starts as soon as its try succeeds.
        assert sorted(events) == sorted(
            [(leader_name, "elected"), (leader_name, "lost"), (follower_name, "elected")]
        )
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert not one.is_leader
    assert not two.is_leader
    assert events.count(("one", "lost")) + events.count(("two", "lost")) == 2


async def test_run_steps_down_when_starting_fails_and_tries_again(
    database_url: str, elections: list[LeaderElection]
) -> None:
    election = _new(elections, database_url)
    other = _new(elections, database_url)
    attempts: list[str] = []
    started = asyncio.Event()
    stop = asyncio.Event()

    async def elected() -> None:
        attempts.append("elected")
        if len(attempts) == 1:
            assert not await other.acquire()  # while starting, we hold the lock
            raise RuntimeError("scheduler could not start")
        started.set()

    async def lost() -> None:
        attempts.append("lost")

    task = asyncio.create_task(election.run(elected, lost, stop))
    try:
        await asyncio.wait_for(started.wait(), HANDOVER_TIMEOUT)
        assert attempts == ["elected", "lost", "elected"]
        assert election.is_leader
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert attempts[-1] == "lost"
    assert not election.is_leader
    assert await other.acquire()  # leaving released the lock


async def test_sqlite_leader_lock_is_a_file_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'impact.db'}"
    election = fast_election(url)
    assert await election.acquire()
    assert (tmp_path / "impact.db.leader").exists()
    await election.release()


async def test_in_memory_sqlite_always_leads() -> None:
    first, second = LeaderElection("sqlite://"), LeaderElection("sqlite:///:memory:")
    assert await first.acquire()
    assert await second.acquire()
    assert await first.check()
    await first.release()
    await second.release()


async def test_unreachable_postgres_is_not_leader() -> None:
    closed_port = normalise_url("postgresql://postgres@127.0.0.1:1/none")
    election = LeaderElection(closed_port, timeout_seconds=2.0)
    assert not await election.acquire()
    assert not election.is_leader
    assert not await election.check()


async def test_the_leader_stops_its_jobs_before_it_releases_the_lock(
    database_url: str, elections: list[LeaderElection]
) -> None:
    """Fault: the service stops, and its jobs take longer to stop than allowed.
    Outcome: while the jobs stop the lock is still held (no follower can lead alongside them);
    the timeout does not skip the release: afterwards a follower leads at once."""
    election = LeaderElection(database_url, retry_seconds=0.1, check_seconds=0.1, stop_seconds=0.5)
    elections.append(election)
    other = _new(elections, database_url)
    stop = asyncio.Event()
    seen: list[bool] = []

    async def elected() -> None:
        return None

    async def lost() -> None:
        seen.append(await other.acquire())  # the jobs are stopping: may anyone else lead?
        await asyncio.sleep(30)  # and they hang

    task = asyncio.create_task(election.run(elected, lost, stop))
    await eventually(lambda: _true(election.is_leader))
    stop.set()
    await asyncio.wait_for(task, 10)
    assert seen == [False]
    assert not election.is_leader
    assert await other.acquire()


async def _true(value: bool) -> bool:
    return value
