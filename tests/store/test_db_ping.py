"""The pool's pre-ping on PostgreSQL: a connection that died while idle in the pool is replaced
before any work uses it, and a live idle connection is lent without a round trip."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from store.db import Database, _quietly_alive

pytestmark = pytest.mark.service


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url, pool_size=4)
    yield database
    database.dispose()


def _backend_pid(session: sa.orm.Session) -> int:
    return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pids: set[int]) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def _pool_pids(db: Database, units: int) -> set[int]:
    """The backends behind the pool: `units` units of work at once, each holding its own."""

    def hold(session: sa.orm.Session) -> int:
        pid = _backend_pid(session)
        time.sleep(0.05)  # hold the connection so the others take other ones
        return pid

    return set(await asyncio.gather(*(db.run(hold) for _ in range(units))))


async def test_connections_killed_while_idle_are_replaced_before_use(pg: Database) -> None:
    """Fault: every pooled connection's backend is terminated while idle (as a server restart
    or a failover does). Outcome: the next units of work all succeed, on new backends."""
    threads = pg.work_threads  # as many units at once as threads run them
    before = await _pool_pids(pg, threads)
    assert len(before) == threads
    _terminate(pg.url, before)
    await asyncio.sleep(0.2)  # the server's goodbye reaches the sockets
    after = await _pool_pids(pg, threads)
    assert after
    assert not (after & before), "a dead connection was lent out"


def test_a_live_idle_connection_needs_no_round_trip_and_a_dead_one_does(
    postgres_url: str,
) -> None:
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        assert _quietly_alive(connection), "an idle live connection: nothing on its socket"
        connection.execute("SELECT 1")  # now inside a transaction
        assert not _quietly_alive(connection), "a connection in a transaction is not idle"
        connection.rollback()
        assert _quietly_alive(connection)
        pid = connection.info.backend_pid
        _terminate(postgres_url, {pid})
        deadline = time.monotonic() + 5
        while _quietly_alive(connection) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _quietly_alive(connection), "a terminated backend must get the real ping"
