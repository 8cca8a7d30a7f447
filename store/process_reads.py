"""Long reads in a process of their own, with their own connection: a round's results.

A thread does not take CPU-heavy Python work off the service: every thread of the process
shares one GIL. Computing a trust's results at the close (300 teams, 900 role groups: about a
second of Python, with C calls such as `json.dumps` of a team's results that hold the GIL for
tens of milliseconds at a time) on a database thread made every answer arriving meanwhile wait
for the GIL at each of its hand-overs: 117-140 ms where an answer takes 6-10 (issue 13). Here
the read runs in one worker process (forked from a fork server, not from the service: no copy
of the service's threads or locks),
started on first use and kept for later closes, and its answer (the frozen results' rows,
plain strings) comes back by pickling.

The work must be picklable: a module-level function, or a `functools.partial` of one with
picklable arguments. It runs in one snapshot, read-only, as `Database.read` does (on SQLite a
WAL snapshot beside the service's writer; on PostgreSQL REPEATABLE READ, READ ONLY). An
in-memory SQLite database exists only in the service's process: `available` says so, and the
caller reads in process instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from sqlmodel import Session

from store.db import Database

T = TypeVar("T")


class ProcessReads:
    """One worker process for long reads, owned by the service (closed at its cleanup)."""

    def __init__(self, url: str, *, preload: Sequence[str] = ()) -> None:
        self.url = url
        self.preload = ["store.process_reads", *preload]
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    @staticmethod
    def available(url: str) -> bool:
        """Whether another process can open this database (not an in-memory SQLite one)."""
        return ":memory:" not in url and url not in ("sqlite://", "sqlite+pysqlite://")

    async def read(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one read-only snapshot, in the worker process."""
        if self._closed:
            raise RuntimeError("process reads closed")
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self.preload)  # if the fork server is not running yet
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        # The first submission starts the worker, and waits (for the fork server to start and
        # import `preload`, the first time: about a second) until it has: on a thread, not the
        # event loop (on the loop it held an answer 400 ms).
        submitted = await asyncio.to_thread(self._pool.submit, _read_there, self.url, work)
        return await asyncio.wrap_future(submitted)

    def close(self) -> None:
        """Stop the worker (if one started); reads still running are waited for."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def started(self) -> bool:
        return self._pool is not None


def _read_there(url: str, work: Callable[[Session], T]) -> T:
    """In the worker: a connection of its own for this read, closed after it (a close is rare;
    a pool kept open would hold a PostgreSQL connection for nothing)."""
    db = Database(url, pool_size=1)
    try:
        return db.read_sync(work)
    finally:
        db.dispose()
