"""Long reads in a process of their own, with their own connection: a round's results, and the
planning of each batch of nudges (on PostgreSQL also its writes: `run`).

A thread does not take CPU-heavy Python work off the service: every thread of the process
shares one GIL. Computing a trust's results at the close (300 teams, 900 role groups: about a
second of Python, with C calls such as `json.dumps` of a team's results that hold the GIL for
tens of milliseconds at a time) on a database thread made every answer arriving meanwhile wait
for the GIL at each of its hand-overs: 117-140 ms where an answer takes 6-10 (issue 13); so did
planning a batch of nudges (about 28 ms of Python a batch, 35-75 ms answers during the due
tick). Here the read runs in one worker process (forked from a fork server, not from the
service: no copy of the service's threads or locks), started on first use (or by `start`) and
kept for later reads, and its answer comes back by pickling.

The worker opens one `Database` when it starts (two connections kept for its life: a due tick
reads a batch every few hundred milliseconds, on PostgreSQL while writing the one before) and
disposes of it when it ends (`close`). A worker that died (killed, out of memory) breaks its
pool: the read that finds out raises, and the next read starts a new worker.

The work must be picklable: a module-level function, or a `functools.partial` of one with
picklable arguments. It runs in one snapshot, read-only, as `Database.read` does (on SQLite a
WAL snapshot beside the service's writer; on PostgreSQL REPEATABLE READ, READ ONLY). An
in-memory SQLite database exists only in the service's process: `available` says so, and the
caller reads in process instead.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.util
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from sqlmodel import Session

from store.db import Database

T = TypeVar("T")
V = TypeVar("V")

log = logging.getLogger(__name__)


class ProcessReads:
    """One worker process for long reads, owned by the service (closed at its cleanup)."""

    def __init__(self, url: str, *, preload: Sequence[str] = ()) -> None:
        self.url = url
        self.preload = ["store.process_reads", *preload]
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closed = False

    @staticmethod
    def available(url: str) -> bool:
        """Whether another process can open this database (not an in-memory SQLite one)."""
        return ":memory:" not in url and url not in ("sqlite://", "sqlite+pysqlite://")

    async def read(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one read-only snapshot, in the worker process."""
        return await self._there(_read_there, work)

    async def run(self, work: Callable[[Database], T]) -> T:
        """`work(database)` in the worker process, with the worker's database: work that reads
        and writes in transactions of its own (`Database.read_sync`, `run_sync`). For
        PostgreSQL: on SQLite the service's one writer thread is where a turn's write goes
        ahead of a step's, and a write from here would wait for SQLite's lock instead."""
        return await self._there(_run_there, work)

    async def call(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` in the worker process, without a database session: e.g. taking a piece
        of what an earlier read kept there (one worker, so the same one, unless it died)."""
        return await self._there(work, *args)

    async def start(self) -> None:
        """Start the worker now, if it is not running, and wait until it is ready (its fork
        server started, its database opened): the first read then does not wait for that."""
        await self._there(_ready)

    async def _there(self, call: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise RuntimeError("process reads closed")
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self.preload)  # if the fork server is not running yet
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_open_there,
                initargs=(self.url,),
            )
        pool = self._pool
        try:
            # The first submission starts the worker, and waits (for the fork server to start
            # and import `preload`, the first time: about a second) until it has: on a thread,
            # not the event loop (on the loop it held an answer 400 ms).
            submitted: Future[T] = await asyncio.to_thread(pool.submit, call, *args)
            return await asyncio.wrap_future(submitted)
        except BrokenProcessPool:
            if self._pool is pool:  # the next read starts a new worker
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    def start_soon(self) -> None:
        """Start the worker in the background, if it is not running or starting: at the
        service's start, so that the fork server's imports (a second or more of CPU on a core
        the service's turns share) are not paid during a round's opening or its first tick. A
        start that fails is logged; the next read tries again."""
        if self.started or self._starting is not None:
            return

        def done(task: asyncio.Task[None]) -> None:
            self._starting = None
            if not task.cancelled() and task.exception() is not None:
                log.warning("worker process did not start: %s", task.exception())

        self._starting = asyncio.ensure_future(self.start())
        self._starting.add_done_callback(done)

    def close(self) -> None:
        """Stop the worker (if one started); reads still running are waited for."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def started(self) -> bool:
        return self._pool is not None


class KeptThere(OrderedDict[str, V]):
    """What the worker process keeps from one call for a later one, by key: at most `most`
    entries, the oldest dropped first (a caller that stopped coming back leaves its entry
    only until newer ones push it out)."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most

    def keep(self, key: str, value: V) -> None:
        self[key] = value
        while len(self) > self.most:
            self.popitem(last=False)


_database: Database | None = None  # in the worker: its one database, for its life

# How much lower the worker's CPU priority is than the service's (os.nice). Everything it does
# is background work (a close's results and charts, nudge plans, invitation cards) that can
# wait a few milliseconds; the service's turns, on the same cores, should not wait for it.
WORKER_NICENESS = 10


def _open_there(url: str) -> None:
    """The worker's start: a lower CPU priority than the service's, and its database
    (connections open on first use), disposed of when the worker ends (multiprocessing runs its
    finalizers as a worker process exits)."""
    global _database
    os.nice(WORKER_NICENESS)
    _database = Database(url, pool_size=2)  # a nudge tick reads on one while writing on the other
    multiprocessing.util.Finalize(None, _database.dispose, exitpriority=10)


def _ready() -> bool:
    return _database is not None


def _run_there(work: Callable[[Database], T]) -> T:
    assert _database is not None, "the worker's initializer opened it"
    return work(_database)


def _read_there(work: Callable[[Session], T]) -> T:
    """In the worker: `work` in a snapshot of the worker's database."""
    assert _database is not None, "the worker's initializer opened it"
    return _database.read_sync(work)
