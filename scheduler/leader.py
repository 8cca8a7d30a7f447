"""Leader election: of all the service processes on one database, exactly one runs the scheduler.

APScheduler 3 must not share a job store between schedulers, so only the leader starts one.

**PostgreSQL.** The leader holds a session-level advisory lock, `pg_try_advisory_lock(KEY)`, on a
connection of its own that stays open for as long as it leads (advisory locks are per database, so
every replica on the same database competes for the same lock). The server releases the lock when
that session ends: when the process exits or is killed, or its connection is lost. Every
`check_seconds` the leader asks the server, with a time limit, whether its session still holds
the lock; a failed, slow or negative answer means it no longer leads: it stops its jobs first
and only then gives the lock back (`step_down`), so a follower never runs them alongside.
Followers try again every `retry_seconds`, so one of them takes over within seconds of the
leader's session ending.

The leader connection asks the server for TCP keepalives (idle 5 s, then 3 probes 2 s apart), so
a leader whose machine vanishes without closing its socket loses the lock after about 11 s; the
leader's own checks notice a dead or unreachable server sooner (`check_seconds` +
`timeout_seconds`, 5 s by default), so an unreachable leader stops its scheduler before the
server lets a follower take over. The lock needs a real session: the leader must connect
directly (or through a session-pooling proxy), not through a transaction-pooling one.

**SQLite.** One process per database file. The leader holds an exclusive `flock` on
`<database file>.leader`, so a second process on the same file (a second `serve`) does not lead
as well; the operating system drops the lock when the process ends, however it ends. An
in-memory database is private to its process, which therefore leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy.engine import make_url

from store.db import TCP_USER_TIMEOUT_MS, normalise_url, without_password

log = logging.getLogger(__name__)

# The same on every replica and in every version: the ASCII of "IMPA".
LEADER_LOCK_KEY = 0x494D5041

DEFAULT_RETRY_SECONDS = 2.0
DEFAULT_CHECK_SECONDS = 2.0
DEFAULT_TIMEOUT_SECONDS = 3.0
DEFAULT_STOP_SECONDS = 10.0  # longest wait for the jobs to stop before the lock is given back

Callback = Callable[[], Awaitable[None]]


class _Lock(Protocol):
    async def try_lock(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def unlock(self) -> None: ...

    async def close(self) -> None: ...


class LeaderElection:
    """Leadership for one process. `acquire` never waits for the lock; `run` keeps trying."""

    def __init__(
        self,
        database_url: str,
        *,
        key: int = LEADER_LOCK_KEY,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        stop_seconds: float = DEFAULT_STOP_SECONDS,
    ) -> None:
        url = normalise_url(database_url)
        self._url = url  # only to mask its password in log lines
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.stop_seconds = stop_seconds
        self._lock: _Lock
        if url.startswith("sqlite"):
            self._lock = _FileLock(_sqlite_lock_path(url))
        else:
            conninfo = make_url(url).set(drivername="postgresql")
            self._lock = _AdvisoryLock(
                conninfo.render_as_string(hide_password=False), key, timeout_seconds
            )
        self._leading = False

    def _one_line(self, exc: BaseException) -> str:
        return without_password(_one_line(exc), self._url)

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def acquire(self) -> bool:
        """Try once to become leader, without waiting for the lock. True if we lead."""
        if self._leading:
            return True
        try:
            self._leading = await self._lock.try_lock()
        except Exception as exc:  # an unreachable database just means: not leader, try later
            log.warning("could not try for leadership: %s", self._one_line(exc))
            await self._close_quietly()
            self._leading = False
        return self._leading

    async def check(self) -> bool:
        """Do we still lead? On any doubt, answer False: the caller stops the leader's jobs and
        then gives the lock up (`step_down`); the lock is not given up here, so no follower can
        take over while our jobs still run."""
        if not self._leading:
            return False
        try:
            return await self._lock.still_held()
        except Exception as exc:
            log.warning("leadership check failed: %s", self._one_line(exc))
            return False

    async def step_down(self, on_lost: Callback) -> None:
        """Stop the leader's jobs (`on_lost`, at most `stop_seconds`), THEN release the lock,
        whatever happened to the stopping: a timeout or an error never keeps the lock."""
        try:
            await asyncio.wait_for(_call_quietly(on_lost, "on_lost"), self.stop_seconds)
        except TimeoutError:
            log.error(
                "the leader's jobs did not stop within %ss; releasing the lock", self.stop_seconds
            )
        finally:
            await self.release()

    async def release(self) -> None:
        """Stop leading: give the lock back, so a follower can take over at once."""
        leading, self._leading = self._leading, False
        if leading:
            try:
                await self._lock.unlock()
            except Exception as exc:
                log.debug("giving back the leader lock: %s", self._one_line(exc))
        await self._close_quietly()

    async def run(self, on_elected: Callback, on_lost: Callback, stop_event: asyncio.Event) -> None:
        """Until `stop_event` is set: try for leadership every `retry_seconds`; while leading,
        check every `check_seconds`. `on_elected` runs when we become leader, `on_lost` when we
        stop leading, including at the end. If `on_elected` fails we step down and try again."""
        try:
            while not stop_event.is_set():
                if self._leading:
                    if not await self.check():
                        log.warning("no longer the leader: stopping the scheduler")
                        await self.step_down(on_lost)
                elif await self.acquire():
                    log.info("elected leader: starting the scheduler")
                    try:
                        await on_elected()
                    except Exception:
                        log.exception("could not start as leader; stepping down")
                        await self.step_down(on_lost)
                interval = self.check_seconds if self._leading else self.retry_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), interval)
        finally:
            if self._leading:
                await asyncio.shield(self.step_down(on_lost))
            else:
                await self.release()

    async def _close_quietly(self) -> None:
        try:
            await self._lock.close()
        except Exception as exc:
            log.debug("closing the leader lock: %s", _one_line(exc))


class _AdvisoryLock:
    """A session-level advisory lock on a dedicated autocommit connection."""

    _KEEPALIVES = (
        "SET tcp_keepalives_idle = 5",
        "SET tcp_keepalives_interval = 2",
        "SET tcp_keepalives_count = 3",
    )

    def __init__(self, conninfo: str, key: int, timeout: float) -> None:
        self._conninfo = conninfo
        self._key = key
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def try_lock(self) -> bool:
        conn = await self._connection()
        row = await self._fetch(conn, "SELECT pg_try_advisory_lock(%s)", (self._key,))
        return bool(row and row[0])

    async def still_held(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed:
            return False
        # pg_locks shows a bigint advisory key as classid (high 32 bits) + objid (low 32 bits).
        row = await self._fetch(
            conn,
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND objsubid = 1"
            " AND classid::bigint = %s AND objid::bigint = %s)",
            ((self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF),
        )
        return bool(row and row[0])

    async def unlock(self) -> None:
        """Give the lock back now (closing the session would too, but the server may take a
        moment to end it)."""
        if self._conn is not None and not self._conn.closed:
            await self._fetch(self._conn, "SELECT pg_advisory_unlock(%s)", (self._key,))

    async def close(self) -> None:
        """Close the connection: ending the session releases the lock, whatever state it is in."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(2, int(self._timeout)),
                application_name="impact-bot leader",
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=TCP_USER_TIMEOUT_MS,
            ),
            self._timeout,
        )
        for statement in self._KEEPALIVES:  # server side: notice a vanished leader quickly
            try:
                await asyncio.wait_for(conn.execute(statement), self._timeout)
            except psycopg.Error as exc:  # e.g. a proxy that refuses them: still usable
                log.debug("%s: %s", statement, _one_line(exc))
        self._conn = conn
        return conn

    async def _fetch(
        self, conn: psycopg.AsyncConnection[Any], query: str, params: tuple[int, ...]
    ) -> tuple[Any, ...] | None:
        async def fetch() -> tuple[Any, ...] | None:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

        try:
            return await asyncio.wait_for(fetch(), self._timeout)
        except BaseException:
            await self.close()
            raise


class _FileLock:
    """An exclusive, non-blocking flock on a file beside the SQLite database."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None

    async def try_lock(self) -> bool:
        if self._path is None or sys.platform == "win32":
            return True  # an in-memory database (or no flock): this process is the only one
        if self._fd is not None:
            return True
        import fcntl

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for people looking: who leads
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._path is None or sys.platform == "win32" or self._fd is not None

    async def unlock(self) -> None:
        await self.close()

    async def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock


def _sqlite_lock_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".leader")


async def _call_quietly(callback: Callback, what: str) -> None:
    try:
        await callback()
    except Exception:
        log.exception("leader %s callback failed", what)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
