"""SQLite: a writer waits for another process's write lock by trying again often
(store.db.begin_immediate), not in SQLite's busy handler, whose sleeps grow to 100 ms; and a
unit of work whose caller has given up stops waiting at once, freeing the one writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from store.db import Database, DatabaseUnavailable, _Abandoned, begin_immediate, deadline

pytestmark = pytest.mark.service


def _connect(path: Path, busy_ms: int = 0) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={busy_ms}")
    return connection


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection, as the CLI or the outbox sender would hold the lock."""
    connection = _connect(tmp_path / "impact.db", busy_ms=15000)
    connection.execute("CREATE TABLE notes (text TEXT)")
    yield connection
    connection.close()


def _waits_for_the_release_then_writes(
    ours: sqlite3.Connection, holder: sqlite3.Connection, release: Callable[[], object]
) -> None:
    """`begin_immediate` on `ours` waits until `release` runs, 0.15 s from now, then writes."""
    threading.Timer(0.15, release).start()
    started = time.monotonic()
    begin_immediate(ours)
    waited = time.monotonic() - started
    ours.execute("INSERT INTO notes VALUES ('ours')")
    ours.execute("COMMIT")
    assert 0.14 <= waited < 5.0
    assert holder.execute("SELECT text FROM notes").fetchall() == [("ours",)]


def test_a_writer_waits_for_the_lock_rather_than_failing(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    ours = _connect(tmp_path / "impact.db")  # no busy handler, as the service's writers
    holder.execute("BEGIN IMMEDIATE")
    _waits_for_the_release_then_writes(ours, holder, lambda: holder.execute("ROLLBACK"))


def test_the_wait_ends_within_a_few_milliseconds_of_the_release(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    """Measured, not timed against a budget: the lag between the holder's ROLLBACK and our
    BEGIN must be far under SQLite's handler's 25-50 ms sleeps at that point."""
    ours = _connect(tmp_path / "impact.db")
    lags = []
    for _ in range(5):
        holder.execute("BEGIN IMMEDIATE")
        released_at: list[float] = []

        def release(at: list[float] = released_at) -> None:
            holder.execute("ROLLBACK")
            at.append(time.monotonic())

        threading.Timer(0.15, release).start()
        begin_immediate(ours)
        lags.append(time.monotonic() - released_at[0] if released_at else 0.0)
        ours.execute("ROLLBACK")
    assert sorted(lags)[2] < 0.02, lags  # the median; the handler's would be 20-50 ms


def test_a_write_given_up_on_stops_waiting_at_once(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    ours = _connect(tmp_path / "impact.db")
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(_Abandoned):
        begin_immediate(ours, given_up=lambda: time.monotonic() > started + 0.05)
    assert time.monotonic() - started < 1.0  # SQLite's handler held on for the busy timeout
    holder.execute("ROLLBACK")


def test_a_lock_held_past_the_busy_timeout_is_database_is_locked(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    ours = _connect(tmp_path / "impact.db")
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(ours, busy_ms=100)
    assert 0.09 <= time.monotonic() - started < 2.0
    holder.execute("ROLLBACK")
    begin_immediate(ours)
    ours.execute("COMMIT")


# Another process in the middle of rebuilding the WAL index (after a process crashed mid-write):
# it holds the index's WRITE and RECOVER locks (bytes 120 and 122 of the -shm file in SQLite's unix
# VFS) and the index header it is rewriting is inconsistent (its two copies differ). A connection
# that begins a transaction then needs the recovery itself, cannot have it, and gets
# SQLITE_BUSY_RECOVERY until the other process lets go.
_RECOVERING = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 120)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 122)
os.pwrite(fd, b"\xff\xff\xff\xff", 8)
print("recovering", flush=True)
sys.stdin.read()
"""


@contextmanager
def _another_process_recovering(shm: Path) -> Iterator[Callable[[], None]]:
    """Yields `release`: the other process lets go of its locks (it exits)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _RECOVERING, str(shm)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin = process.stdin

    def release() -> None:
        if not stdin.closed:
            stdin.close()

    try:
        assert process.stdout.readline() == "recovering\n"
        yield release
    finally:
        release()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.mark.skipif(sys.platform == "win32", reason="the unix VFS's WAL-index locks")
def test_a_writer_waits_while_another_process_recovers_the_wal(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    """SQLITE_BUSY_RECOVERY is an extended code of SQLITE_BUSY (5 | 1 << 8) and Python reports
    the extended code: SQLite's busy handler waited through it, and so must begin_immediate."""
    ours = _connect(tmp_path / "impact.db")
    ours.execute("SELECT count(*) FROM notes").fetchall()  # the WAL index is open and mapped
    with _another_process_recovering(tmp_path / "impact.db-shm") as release:
        with pytest.raises(sqlite3.OperationalError) as raised:
            ours.execute("BEGIN IMMEDIATE")  # the real thing, not a stand-in
        assert raised.value.sqlite_errorcode == sqlite3.SQLITE_BUSY_RECOVERY
        _waits_for_the_release_then_writes(ours, holder, release)


class _Refusing:
    """A DBAPI connection whose first `refusals` BEGINs fail with `code` (an extended result
    code, as Python reports it), for the codes no real connection here can be made to give."""

    def __init__(self, code: int, refusals: int) -> None:
        self.code = code
        self.refusals = refusals
        self.calls = 0

    def execute(self, sql: str) -> None:
        assert sql == "BEGIN IMMEDIATE"
        self.calls += 1
        if self.calls <= self.refusals:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = self.code
            raise error


@pytest.mark.parametrize(
    "code",
    [
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_BUSY_RECOVERY,
        sqlite3.SQLITE_BUSY_SNAPSHOT,
        sqlite3.SQLITE_BUSY_TIMEOUT,
    ],
)
def test_every_busy_code_is_tried_again(code: int) -> None:
    connection = _Refusing(code, refusals=3)
    begin_immediate(connection)
    assert connection.calls == 4


@pytest.mark.parametrize("code", [sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_LOCKED_SHAREDCACHE])
def test_a_locked_table_is_not_waited_for(code: int) -> None:
    """SQLITE_LOCKED (a conflict within this process, not a lock held by another) fails at once,
    as before; SQLITE_LOCKED_SHAREDCACHE is 6 | 1 << 8, so only the low byte says "busy"."""
    connection = _Refusing(code, refusals=1)
    with pytest.raises(sqlite3.OperationalError) as raised:
        begin_immediate(connection)
    assert raised.value.sqlite_errorcode == code
    assert connection.calls == 1


async def test_a_turn_past_its_deadline_frees_the_writer_thread(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    """The service's one writer thread: a turn that gave up waiting for a lock held elsewhere
    changes nothing, and the next unit of work runs as soon as the lock is free, rather than
    after the busy timeout (15 s) that SQLite's handler would have kept the thread for."""
    db = Database(f"sqlite:///{tmp_path / 'impact.db'}")
    try:

        def note(text: str) -> Callable[[Session], object]:
            return lambda s: s.execute(sa.text("INSERT INTO notes VALUES (:t)"), {"t": text})

        holder.execute("BEGIN IMMEDIATE")
        with deadline(0.2, person_waiting=True), pytest.raises(DatabaseUnavailable):
            await db.run(note("given up"))
        holder.execute("ROLLBACK")
        started = time.monotonic()
        await db.run(note("next"))
        assert time.monotonic() - started < 2.0
        texts = await db.run(lambda s: [r[0] for r in s.execute(sa.text("SELECT text FROM notes"))])
        assert texts == ["next"]
    finally:
        db.dispose()


def test_the_service_writers_have_no_busy_handler_and_its_reader_keeps_one(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'impact.db'}")
    try:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
        assert db._reader is not None
        with db._reader.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
    finally:
        db.dispose()


def two_rows_to_deadlock_on(db: Database) -> None:
    """PostgreSQL: a table `pair` of rows 1 and 2 (n = 0), for two units of work to lock in
    opposite orders. SQLite: skipped (one writer at a time, no deadlock)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no deadlock")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE pair (id INTEGER PRIMARY KEY, n INTEGER)")
        connection.exec_driver_sql("INSERT INTO pair VALUES (1, 0), (2, 0)")


async def test_a_deadlock_victim_is_run_again(db: Database) -> None:
    """PostgreSQL: two units of work lock the same two rows in opposite orders (a closing round
    cancelling its pending nudges, a sender recording a group of their outcomes: seen once in
    the trust benchmark with two service processes, where the close then failed). PostgreSQL
    rolls one back as the deadlock's victim; it is run again and both changes are made."""
    two_rows_to_deadlock_on(db)
    both_hold_one = threading.Barrier(2, timeout=10)
    tries = {"a": 0, "b": 0}

    def unit(name: str, first: int, second: int) -> Callable[[Session], None]:
        def work(session: Session) -> None:
            tries[name] += 1
            bump = sa.text("UPDATE pair SET n = n + 1 WHERE id = :id")
            session.execute(bump, {"id": first})
            if tries[name] == 1:
                both_hold_one.wait()
            session.execute(bump, {"id": second})

        return work

    await asyncio.gather(db.run(unit("a", 1, 2)), db.run(unit("b", 2, 1)))
    assert sorted(tries.values()) == [1, 2], "one was the victim, and ran again"
    assert db.deadlock_victims == 1, "counted, for /metrics"
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, n FROM pair ORDER BY id").all()
    assert [tuple(row) for row in rows] == [(1, 2), (2, 2)]


async def test_background_work_back_to_back_leaves_another_writer_a_gap(tmp_path: Path) -> None:
    """The service's background units of work queued one after another (a step's parts, the
    sender's outcomes), each holding the write lock 20 ms: another process's writer, waiting as
    the service's do (trying again every 0.5 ms at most), gets the lock within a few of them.
    Without the gap between them (store.db.SQLITE_BACKGROUND_GAP) it waited up to 0.74 s."""
    db = Database(f"sqlite:///{tmp_path / 'impact.db'}")
    db.run_sync(lambda s: s.execute(sa.text("CREATE TABLE notes (text TEXT)")))
    other = _connect(tmp_path / "impact.db")
    stop = threading.Event()

    def part(session: Session) -> None:
        session.execute(sa.text("INSERT INTO notes VALUES ('part')"))
        time.sleep(0.02)

    async def step() -> None:  # always two more queued behind the one running
        running: set[asyncio.Future[None]] = set()
        while not stop.is_set():
            while len(running) < 3:
                running.add(asyncio.ensure_future(db.run(part)))
            _done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*running)

    def other_writes() -> list[float]:
        waits = []
        for _ in range(15):
            time.sleep(0.01)
            began = time.monotonic()
            begin_immediate(other, busy_ms=3000)
            waits.append(time.monotonic() - began)
            other.execute("ROLLBACK")
        return waits

    stepping = asyncio.ensure_future(step())
    try:
        waits = await asyncio.to_thread(other_writes)
    finally:
        stop.set()
        await stepping
        other.close()
        db.dispose()
    assert max(waits) < 0.3, [round(w * 1000) for w in waits]
