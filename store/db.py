"""The one database session factory.

The service is asyncio; SQLAlchemy sessions are synchronous. Every unit of work runs as one
transaction on a small dedicated thread pool (`Database.run`), so the event loop never blocks on
the database. On SQLite the pool has one thread: SQLite has one writer anyway, and one thread
means no lock upgrades and no `database is locked` inside the service. Transactions on SQLite
start with BEGIN IMMEDIATE for the same reason; when another process holds the write lock (the
outbox sender, the CLI) the writer tries again every millisecond or so, up to the busy timeout
(`begin_immediate`), rather than sleeping in SQLite's busy handler.

A database that goes silent (a network that drops packets without closing anything) must not
freeze the service. On PostgreSQL every connection has a connect timeout, TCP keepalives, a
`tcp_user_timeout` and a `statement_timeout`, and the pool checks a connection before lending it
(`pool_pre_ping`; a round trip only when its socket shows the server said something, see
`_quietly_alive`).
Every unit of work has a time limit (`Database.run`, `work_timeout`, shortened for a turn by
`deadline`): past it the caller gets `DatabaseUnavailable` if the work had not reached its
commit, which is then abandoned and rolled back, so "nothing was changed" is true; or
`DatabaseOutcomeUnknown` if the commit had been sent and no answer came.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import logging
import os
import random
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from store.lock_holds import LockHolds, lock_taken

T = TypeVar("T")

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 30_000
TCP_USER_TIMEOUT_MS = 10_000  # unacknowledged data for this long: the connection is dead
WORK_TIMEOUT_SECONDS = 60.0  # any unit of work (jobs, the CLI); a turn's is shorter
# Threads that run units of work on PostgreSQL. More threads than cores only add contention for
# the GIL: in the answer benchmark (20 people at once, 2 cores) the database threads' CPU per
# turn was 2.1 ms with 2 threads, 2.5 ms with 4 and 3.2 ms with 8, for the same statements.
# Three were kept for a while, so that a turn never waited behind two slow units of work; once
# an answer's units became a statement or two each (1 December), two threads gave the answer
# turn about 7% more throughput than three (make bench, four rounds alternating) and the trust
# benchmark's due ticks ran in 1.3 s against 1.6-1.9, its answers' p99 unchanged. A turn's work
# goes before queued background work (_Lanes), so it waits only if both threads are running
# background units (round steps' batches: at most about 200 ms each). Long reads have their own.
POSTGRES_WORK_THREADS = 2
POSTGRES_READ_THREADS = 2
CHECKPOINT_SECONDS = 1.0  # SQLite: the WAL is checkpointed beside the writer at most this often

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "impact_db_deadline", default=None
)
_person_waiting: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "impact_db_person_waiting", default=False
)


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused the work; nothing was changed."""


class DatabaseOutcomeUnknown(DatabaseUnavailable):
    """The commit was sent but no answer came: the change may or may not have been made."""


# PostgreSQL: a unit of work chosen as a deadlock's victim is rolled back whole (nothing was
# changed) and run again, at most this many times in all. Two transactions that lock the same
# outbox rows in different orders (a closing round cancelling its pending nudges, a sender
# recording a group of their outcomes) deadlock now and then; PostgreSQL's advice is to retry.
DEADLOCK_TRIES = 3
DEADLOCK_DETECTED = "40P01"  # SQLSTATE


def _from_deadlock_detector(error: BaseException | None) -> bool:
    """Whether SQLAlchemy's `error` wraps PostgreSQL's deadlock error: that statement, or
    transaction, was rolled back whole."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == DEADLOCK_DETECTED


def _deadlock_victim(exc: BaseException) -> bool:
    """Whether `exc` (a DatabaseUnavailable) came from PostgreSQL's deadlock detector."""
    return _from_deadlock_detector(exc.__cause__) and not isinstance(exc, DatabaseOutcomeUnknown)


class _Abandoned(Exception):
    """The caller stopped waiting before the commit: roll back, change nothing."""


class _Attempt:
    """One unit of work's progress, shared by the caller (who may give up) and the thread.

    A silent server behind something that still acknowledges TCP (a proxy, a half-dead
    middlebox) leaves libpq waiting for ever: keepalives and `tcp_user_timeout` see a healthy
    socket, and `statement_timeout` never reaches the server. So the attempt knows its
    connection's socket, and the caller who gives up shuts it down: the thread wakes with an
    error, rolls back, and the pool drops the connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.abandoned = False
        self.committing = False
        self.finished = False
        self.socket_fd: int | None = None
        # PostgreSQL in autocommit with `reads_first`: each statement commits as it runs, and
        # the work says (`about_to_write`) when it sends the first that may change something
        self.statements_commit = False

    def start_commit(self) -> None:
        with self._lock:
            if self.abandoned:
                raise _Abandoned
            self.committing = True

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self.socket_fd = None

    def abandon(self) -> bool:
        """Give up; True if the commit had already been sent (the outcome is unknown)."""
        with self._lock:
            self.abandoned = True
            if not self.finished and self.socket_fd is not None:
                _shut_down(self.socket_fd)
            return self.committing


def _shut_down(fd: int) -> None:
    """Wake a thread blocked on this socket (shutdown acts on the socket, not the fd)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


_current: threading.local = threading.local()  # the attempt a db thread is running


def about_to_write() -> None:
    """Said by work run with `Database.run_autocommit(..., reads_first=True)` just before its
    first statement that may change something: until then a failure, or the caller giving up,
    changed nothing (DatabaseUnavailable); from then on each statement commits as it runs, and a
    failure leaves the outcome unknown. Elsewhere (in a transaction, or outside a unit of work)
    it does nothing: there the commit is what counts."""
    attempt: _Attempt | None = getattr(_current, "attempt", None)
    if attempt is not None and attempt.statements_commit:
        attempt.start_commit()


def _socket_fd(dbapi_connection: Any) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3; SQLite has no socket
    try:
        return int(pgconn.socket) if pgconn is not None else None
    except Exception:
        return None


def _note_connection(dbapi_connection: Any) -> None:
    attempt = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.socket_fd = _socket_fd(dbapi_connection)


@contextmanager
def deadline(seconds: float, *, person_waiting: bool = False) -> Iterator[None]:
    """Database work started within this block (in this task) ends within `seconds` of its
    start at the latest: a turn's budget, so the person hears back in time. With
    `person_waiting` (a turn) it also goes ahead of the background work queued for the same
    threads (`_Lanes`)."""
    token = _deadline.set(time.monotonic() + seconds)
    waiting = _person_waiting.set(person_waiting)
    try:
        yield
    finally:
        _person_waiting.reset(waiting)
        _deadline.reset(token)


class _Lanes:
    """A thread pool's queue in two lanes: work a person is waiting for (a turn's) is taken
    before background work (the round steps' batches, the outbox sender's claims and results)
    that was queued earlier. On SQLite one thread runs every unit of work, and at a trust's
    scale the sender and a step's batches keep ten or twenty units queued: in a plain queue a
    turn's two units each waited behind all of them (20-50 ms each). Now a turn waits at most
    for the unit already running. Each submission adds one task to the pool, which runs the
    first waiting item of the first lane that has one, so every item runs once.

    With a `background_gap` (SQLite's writer), background work starts no sooner than that long
    after the background work before it ended: another process's writer waiting for SQLite's
    write lock (the sender's, or the service's while the sender writes) tries again every
    `BUSY_LONGEST_PAUSE` at most (`begin_immediate`), and SQLite does not queue waiters. Back
    to back, a writer that begins its next transaction a fraction of a millisecond after its
    COMMIT kept such a waiter out for 14 s; 1.5 ms apart (the waiter's pause then 1 ms), for
    about two transactions (benchmarks/sqlite_back_to_back.py).
    A turn's work does not wait for the gap, unless it arrives during one (then at most the
    gap)."""

    def __init__(self, executor: ThreadPoolExecutor, *, background_gap: float = 0.0) -> None:
        self.executor = executor
        self.background_gap = background_gap
        self._lock = threading.Lock()
        self._first: collections.deque[_Queued] = collections.deque()
        self._rest: collections.deque[_Queued] = collections.deque()
        self._background_ended = float("-inf")  # monotonic

    def submit(self, work: Callable[[], T], *, first: bool) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            (self._first if first else self._rest).append((future, work))
        try:
            self.executor.submit(self._run_next)
        except RuntimeError:  # shut down: nothing will take it
            with self._lock:
                (self._first if first else self._rest).remove((future, work))
            raise
        return future

    def cancel_waiting(self) -> None:
        """At shutdown: the items no thread will take now, cancelled (their callers wake)."""
        with self._lock:
            waiting = [*self._first, *self._rest]
            self._first.clear()
            self._rest.clear()
        for future, _work in waiting:
            future.cancel()

    def _run_next(self) -> None:
        self._leave_the_gap()
        with self._lock:
            background = not self._first
            lane = self._first or self._rest
            if not lane:
                return  # cancelled at shutdown
            future, work = lane.popleft()
        if not future.set_running_or_notify_cancel():
            return  # its caller gave up before it started
        try:
            result = work()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            if background:
                self._background_ended = time.monotonic()

    def _leave_the_gap(self) -> None:
        """Before background work: wait out what is left of the gap since the last ended."""
        if self.background_gap <= 0:
            return
        with self._lock:
            if self._first or not self._rest:
                return
            left = self._background_ended + self.background_gap - time.monotonic()
        if left > 0:
            time.sleep(left)


_Queued = tuple["concurrent.futures.Future[Any]", Callable[[], Any]]


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", ""})


def on_localhost(url: str) -> bool:
    """Whether a database URL names this machine (a Unix socket, localhost or loopback)."""
    try:
        host = make_url(url).host or ""
    except ArgumentError:
        return False
    return host.lower() in LOCAL_HOSTS


def masked_url(url: str) -> str:
    """A database URL with any password replaced by ***, for logs and messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def without_password(text: str, url: str) -> str:
    """`text` (an error's message) with the URL's password, as written or URL-quoted, masked."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    if not password:
        return text
    for form in {str(password), quote(str(password), safe=""), quote_plus(str(password))}:
        text = text.replace(form, "***")
    return text


def create_db_engine(url: str, *, pool_size: int = 8, read_only: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,  # an error's message never carries answers or names
        )
        _configure_sqlite(engine, begin="BEGIN" if read_only else "BEGIN IMMEDIATE")
        # Many rows INSERTed at once (executemany) go as multi-row INSERT statements, as they
        # do with RETURNING, rather than one statement per row: every statement run hands the
        # GIL to the event loop and back while the write lock is held (store.bulk explains;
        # SQLAlchemy does not do this for ON CONFLICT, which store.bulk.insert_ignoring does).
        engine.dialect.use_insertmanyvalues_wo_returning = True
        return engine
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(),
        hide_parameters=True,  # an error's message never carries answers or names
    )
    # The pre-ping happens before a connection is handed out: note its socket first, so that a
    # ping that never returns can be woken too (see _Attempt).
    ping = engine.dialect.do_ping

    def noted_ping(dbapi_connection: Any) -> bool:
        _note_connection(dbapi_connection)
        if _quietly_alive(dbapi_connection):
            return True
        return bool(ping(dbapi_connection))

    engine.dialect.do_ping = noted_ping  # type: ignore[method-assign]
    return engine


def _quietly_alive(dbapi_connection: Any) -> bool:
    """Whether an idle pooled connection is known to be alive without asking the server.

    The pre-ping exists for connections that died while idle in the pool: the server restarted,
    the backend was terminated (`pg_terminate_backend`, `idle_session_timeout`, a failover). In
    each of those the server's last words (an error message, then FIN or RST) arrive on the
    socket, which becomes readable; an idle connection that is alive has nothing to read (this
    service never LISTENs). So a socket with nothing to read and no error needs no round trip;
    anything else gets the dialect's real ping, which fails on a dead connection and makes the
    pool replace it. A network gone silent sends nothing either way: a round-trip ping would
    block on it as the first statement does, and `tcp_user_timeout` and the unit of work's time
    limit end both. The round trip was an eighth of a turn's database CPU on PostgreSQL.
    """
    fd = _socket_fd(dbapi_connection)
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if fd is None or pgconn is None or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


def postgres_connect_args(application_name: str = "impact-bot") -> dict[str, Any]:
    """libpq options so that a silent server or network is noticed in seconds, not hours."""
    return {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": application_name,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    }


def _configure_sqlite(engine: Engine, *, begin: str = "BEGIN IMMEDIATE") -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if begin == "BEGIN IMMEDIATE":
            # A writer waits for the write lock in `begin_immediate`, not in SQLite's busy
            # handler; once it holds the lock, nothing in WAL mode waits on another connection.
            cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if begin != "BEGIN IMMEDIATE":
            connection.exec_driver_sql(begin)
            return
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        try:
            begin_immediate(
                connection.connection.dbapi_connection,
                given_up=(lambda: attempt.abandoned) if attempt is not None else _never,
            )
        except sqlite3.OperationalError as exc:  # as SQLAlchemy would have raised it
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        lock_taken()


BUSY_FIRST_PAUSE = 0.0002  # seconds; the write lock is mostly held for a millisecond or less
BUSY_LONGEST_PAUSE = 0.0005
# Between two units of background work on SQLite's writer: more than BUSY_LONGEST_PAUSE, so
# another process's writer waiting in `begin_immediate` looks while the lock is free (_Lanes).
SQLITE_BACKGROUND_GAP = 0.00075


def _never() -> bool:
    return False


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite said SQLITE_BUSY in any form. `sqlite_errorcode` is the extended result
    code, whose low byte is the primary one; SQLite's busy handler, which begin_immediate stands
    in for, tries again on the low byte too (sqlite3BtreeBeginTrans), so BUSY_RECOVERY (another
    process is rebuilding the WAL index after one crashed mid-write) and BUSY_TIMEOUT are waited
    for like BUSY. BUSY_SNAPSHOT (a read transaction's snapshot overtaken by another writer) is
    retried as well: BEGIN IMMEDIATE opens no transaction when it fails, so the next try starts
    afresh on a new snapshot, which is SQLite's own advice for it (and SQLite reports it as plain
    BUSY to a BEGIN from no transaction, so it should not reach us). Anything else, SQLITE_LOCKED
    (6) and its extended codes among them, is not a wait and is raised at once."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def begin_immediate(
    dbapi_connection: Any,
    *,
    busy_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    given_up: Callable[[], bool] = _never,
) -> None:
    """BEGIN IMMEDIATE on a connection without a busy handler, waiting for another process's
    write lock by trying again every 0.2 ms, then at most every 0.5 ms, for up to `busy_ms`.

    SQLite's own busy handler sleeps 1, 2, 5, 10, ... then 100 ms between its tries, whatever
    the holder does. With two processes writing (the service and its outbox sender, which
    records each message's outcome: hundreds of short transactions a second while a round
    opens) the lock is free often but seldom when a sleeping waiter looks: in the trust
    benchmark a write waiting in the handler waited up to 0.3-1.3 s while one trying every
    0.5 ms never waited more than 34-86 ms (benchmarks/results/2026-11-30-spinprobe-*). A unit
    of work whose caller has `given_up` (a turn past its deadline) stops waiting at once
    (`_Abandoned`), freeing the writer thread that the handler held for the whole timeout.
    Every code of the SQLITE_BUSY family is waited for (`_busy`), as the handler did."""
    ends = time.monotonic() + busy_ms / 1000
    pause = BUSY_FIRST_PAUSE
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + pause > ends:
                raise
        if given_up():
            raise _Abandoned
        time.sleep(pause)
        pause = min(pause * 2, BUSY_LONGEST_PAUSE)


def _snapshot(work: Callable[[Session], T], session: Session) -> T:
    """On PostgreSQL, a read is one snapshot and read-only (REPEATABLE READ, READ ONLY): a
    long read such as a round's results sees one state and cannot write by mistake. (SQLite
    reads on its own connection, in a WAL snapshot, or on the writer: nothing to set.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    return work(session)


def _without_auto_checkpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Database:
    """Engine + session factory + the thread pool that runs units of work."""

    def __init__(
        self, url: str, *, pool_size: int = 8, work_timeout: float = WORK_TIMEOUT_SECONDS
    ) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, pool_size=pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.work_timeout = work_timeout
        # SQLite: its units' holds of the write lock (logged where `report` is set: the service
        # and its outbox sender)
        self.lock_holds = LockHolds()
        self.deadlock_victims = 0  # PostgreSQL: units of work run again after a deadlock
        workers = 1 if self.is_sqlite else min(pool_size, POSTGRES_WORK_THREADS)
        self.work_threads = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        # PostgreSQL: the same pool's connections in autocommit, for `run_autocommit`.
        self._autocommit: Engine | None = (
            None if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        gap = SQLITE_BACKGROUND_GAP if self.is_sqlite else 0.0
        self._lanes = {id(self._executor): _Lanes(self._executor, background_gap=gap)}
        # Long reads (a round's results) beside the units of work, so they do not queue in front
        # of the turns. On SQLite: their own connection and thread, a deferred transaction (a
        # WAL snapshot), so they do not take the write lock either. PostgreSQL: their own
        # threads, connections from the same pool.
        self._reader: Engine | None = None
        self._read_executor: ThreadPoolExecutor | None = None
        self._checkpointer: ThreadPoolExecutor | None = None
        if self.is_sqlite and ":memory:" not in self.url:
            self._reader = create_db_engine(self.url, read_only=True)
            self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-read")
            # SQLite's automatic checkpoint copies the WAL back into the database inside the
            # COMMIT that takes the WAL past 1,000 pages, on the one writer thread: every unit of
            # work queued behind it (a turn's) waits for those disk writes. Instead a passive
            # checkpoint (which never blocks the writer) runs on a thread of its own, at most
            # once a CHECKPOINT_SECONDS after a write.
            event.listen(self.engine, "connect", _without_auto_checkpoint)
            self._checkpointer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="db-checkpoint"
            )
            self._checkpoint_lock = threading.Lock()
            self._checkpoint_pending = False
            self._checkpoint_after = 0.0  # monotonic
            self._checkpoint_stop = threading.Event()
        elif not self.is_sqlite:
            readers = max(1, min(POSTGRES_READ_THREADS, pool_size - workers))
            self._read_executor = ThreadPoolExecutor(readers, thread_name_prefix="db-read")
            self._lanes[id(self._read_executor)] = _Lanes(self._read_executor)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def run_sync(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one transaction here and now (on the thread pool, as part of
        `run`, whose attempt it then reports its progress to)."""
        with self._attempt() as attempt, self.lock_holds.watching(work):
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                if attempt is not None and not self.is_sqlite:  # SQLite: no socket to wake
                    _note_connection(session.connection().connection.dbapi_connection)
                result = work(session)
                if attempt is not None:
                    attempt.start_commit()
            self._checkpoint_soon()
            return result

    @property
    def statements_stand_alone(self) -> bool:
        """Whether `run_autocommit` runs each statement as its own transaction (PostgreSQL),
        rather than the whole work as one (SQLite)."""
        return self._autocommit is not None

    def run_alone_sync(self, work: Callable[[sa.Connection], T], *, reads_first: bool = False) -> T:
        """Run `work(connection)`, whose statements each stand alone, here and now: on
        PostgreSQL in autocommit, on SQLite as one transaction (see `run_autocommit`)."""
        with self._attempt() as attempt, self.lock_holds.watching(work):
            if self._autocommit is None:
                with self.engine.begin() as connection:
                    result = work(connection)
                    if attempt is not None:
                        attempt.start_commit()
                self._checkpoint_soon()
                return result
            with self._autocommit.connect() as connection:
                if attempt is not None:
                    _note_connection(connection.connection.dbapi_connection)
                    attempt.statements_commit = True
                    if not reads_first:
                        attempt.start_commit()  # each statement commits as it runs
                result = work(connection)
                connection.commit()  # nothing to send: the statements have committed
            return result

    @contextmanager
    def _attempt(self) -> Iterator[_Attempt | None]:
        """The running unit of work's attempt (None outside `run`), and its errors as
        DatabaseUnavailable (nothing was changed) or DatabaseOutcomeUnknown (the commit, or in
        autocommit a statement, had been sent)."""
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        if attempt is not None and attempt.abandoned:
            raise DatabaseUnavailable("gave up waiting before the work started")
        try:
            yield attempt
        except _Abandoned:
            raise DatabaseUnavailable("gave up waiting before the commit; rolled back") from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            first = without_password(text, self.url)
            # A deadlock's victim is rolled back whole, even a statement that stood alone
            rolled_back = _from_deadlock_detector(exc)
            if attempt is not None and attempt.committing and not rolled_back:
                raise DatabaseOutcomeUnknown(first) from exc
            raise DatabaseUnavailable(first) from exc
        finally:
            if attempt is not None:
                attempt.finish()

    def _checkpoint_soon(self) -> None:
        """After a write on SQLite: a passive checkpoint on the checkpoint thread, unless one is
        waiting; at most once a CHECKPOINT_SECONDS, so a write soon after the last checkpoint
        waits for the next, which still comes (it had been dropped: the WAL of a last burst of
        writes stayed uncopied until some later write). Nothing to do on PostgreSQL."""
        if self._checkpointer is None:
            return
        with self._checkpoint_lock:
            if self._checkpoint_pending:
                return
            self._checkpoint_pending = True
            delay = max(0.0, self._checkpoint_after - time.monotonic())
        try:
            self._checkpointer.submit(self._checkpoint, delay)
        except RuntimeError:  # shutting down: the last connection to close checkpoints
            with self._checkpoint_lock:
                self._checkpoint_pending = False

    def _checkpoint(self, delay: float) -> None:
        assert self._reader is not None
        if self._checkpoint_stop.wait(delay):
            return  # shutting down: the last connection to close checkpoints
        with self._checkpoint_lock:
            self._checkpoint_pending = False  # a write from now on asks for the next one
            self._checkpoint_after = time.monotonic() + CHECKPOINT_SECONDS
        try:
            connection = self._reader.raw_connection()
            try:
                connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except Exception as exc:  # the next write asks again; SQLite's WAL stays correct
            log.warning("SQLite checkpoint failed: %s", without_password(str(exc), self.url))

    def _run_attempt(self, work: Callable[[], T], attempt: _Attempt) -> T:
        _current.attempt = attempt
        try:
            return work()
        finally:
            _current.attempt = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one transaction on the database thread pool, within
        `work_timeout` seconds (or less inside a `deadline`, such as a turn's); run again if
        PostgreSQL chose it as a deadlock's victim (`DEADLOCK_TRIES`)."""
        return await self._run_again_if_deadlocked(functools.partial(self.run_sync, work))

    async def _run_again_if_deadlocked(self, unit: Callable[[], T]) -> T:
        for tries in range(1, DEADLOCK_TRIES + 1):
            try:
                return await self._run_on(self._executor, unit)
            except DatabaseUnavailable as exc:
                if tries == DEADLOCK_TRIES or not _deadlock_victim(exc):
                    raise
                self.deadlock_victims += 1  # on the event loop's thread: no lock needed
                log.info("a deadlock's victim, rolled back: running it again (%s)", exc)
                await asyncio.sleep(random.uniform(0.001, 0.02) * tries)  # out of step
        raise AssertionError("unreachable")  # pragma: no cover

    async def run_autocommit(
        self, work: Callable[[sa.Connection], T], *, reads_first: bool = False
    ) -> T:
        """As `run`, for work on a connection whose every statement stands alone: on PostgreSQL
        each statement is its own transaction (autocommit), which saves the BEGIN and COMMIT
        round trips (two of a one-statement unit of work's three) and the ORM session; a
        savepoint cannot be used there, and a statement cut short by the time limit may have
        committed (DatabaseOutcomeUnknown). With `reads_first` that holds only from the work's
        `about_to_write()`: a failure before it changed nothing. On SQLite the work is one
        transaction. Run again, as `run`, if a statement was a deadlock's victim: the work must
        be safe to run again after the statements before that one committed (ours read again
        before they write)."""
        unit = functools.partial(self.run_alone_sync, work, reads_first=reads_first)
        return await self._run_again_if_deadlocked(unit)

    async def _run_on(self, executor: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        limit = self.work_timeout
        if (ends := _deadline.get()) is not None:
            limit = min(limit, max(ends - time.monotonic(), 0.0))
        attempt = _Attempt()
        future = asyncio.wrap_future(
            self._lanes[id(executor)].submit(
                functools.partial(self._run_attempt, work, attempt), first=_person_waiting.get()
            )
        )
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            future.cancel()  # not started yet: it never will
            if attempt.abandon():
                raise DatabaseOutcomeUnknown(
                    f"no answer to the commit within {limit:.1f}s"
                ) from None
            raise DatabaseUnavailable(f"no answer within {limit:.1f}s; nothing changed") from None

    def read_sync(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in a read-only snapshot; on SQLite without the write lock."""
        if self._reader is None:
            return self.run_sync(functools.partial(_snapshot, work))
        try:
            with Session(self._reader, expire_on_commit=False) as session, session.begin():
                return work(session)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            message = without_password(str(exc).splitlines()[0], self.url)
            raise DatabaseUnavailable(message) from exc

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run a long read (one snapshot, changing nothing) beside the units of work: on SQLite
        it does not wait for, or hold up, the writer thread; on PostgreSQL it runs as a unit of
        work (with its time limit) on the read threads."""
        if self._read_executor is None:
            return await self.run(functools.partial(_snapshot, work))
        if self._reader is None:
            snapshot = functools.partial(_snapshot, work)
            return await self._run_on(
                self._read_executor, functools.partial(self.run_sync, snapshot)
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._read_executor, functools.partial(self.read_sync, work)
        )

    def dispose(self, timeout: float = 5.0) -> None:
        """Close the pool. Work still stuck on a silent server is left to its own timeouts
        (`tcp_user_timeout`, `statement_timeout`) rather than waited for past `timeout`."""
        executors = [e for e in (self._executor, self._read_executor) if e is not None]
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
        for lanes in self._lanes.values():
            lanes.cancel_waiting()
        ends = time.monotonic() + timeout
        threads = [t for e in executors for t in list(getattr(e, "_threads", ()))]
        for thread in threads:
            thread.join(max(ends - time.monotonic(), 0.0))
            if thread.is_alive():
                log.warning("database work still running at shutdown; not waiting for it")
                break
        if self._checkpointer is not None:
            self._checkpoint_stop.set()
            self._checkpointer.shutdown(wait=True, cancel_futures=True)
        if self._reader is not None:
            self._reader.dispose()
        self.engine.dispose()
