"""SQLite: how long each unit of work held the database's one write lock.

Every writer of the database (the service's writer thread, its outbox sender process, its
worker, the CLI) takes SQLite's write lock from BEGIN IMMEDIATE to the end of COMMIT, and every
answer's write waits for whoever holds it. The round steps keep their transactions well under
`LONG_HOLD_SECONDS` (issue 13); a unit of work that holds it longer is logged, with its name,
so that an operator (and benchmarks/trust_scale.py, which reads every process's log) can see
which one made the answers wait. At most one line every `LOG_EVERY_SECONDS` per process: the
line says how many more there were meanwhile, and the longest. Only the long-running processes
log (`report`: the service and its outbox sender); a CLI command's output stays its own.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

LONG_HOLD_SECONDS = 0.05  # issue 13: the longest a round step may hold SQLite's write lock
LOG_EVERY_SECONDS = 10.0

_held_since = threading.local()  # when this thread's transaction took the write lock


def lock_taken() -> None:
    """Called on a writer's thread once its BEGIN IMMEDIATE has succeeded (store.db)."""
    _held_since.at = time.perf_counter()


def unit_name(work: object) -> str:
    """A unit of work's name for the log: its function's qualified name (through partials)."""
    while isinstance(work, functools.partial):
        work = work.func
    return str(getattr(work, "__qualname__", type(work).__name__))


class LockHolds:
    """The write-lock holds of one process's units of work: counted, and the long ones logged
    (at most one line every `every` seconds)."""

    def __init__(
        self,
        *,
        long_hold: float = LONG_HOLD_SECONDS,
        every: float = LOG_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        report: bool = False,
    ) -> None:
        self.report = report  # log the long holds (else only count them)
        self.long_hold = long_hold
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self.holds = 0  # transactions that took the write lock
        self.long_holds = 0  # of them, held longer than `long_hold`
        self.longest = 0.0  # seconds
        self._logged_at: float | None = None
        self._unlogged = 0
        self._unlogged_longest = 0.0

    @contextmanager
    def watching(self, work: object) -> Iterator[None]:
        """Around a unit of work and its commit (or rollback) on this thread: if it took the
        write lock, how long it held it is noted when the block ends."""
        _held_since.at = None
        try:
            yield
        finally:
            began = getattr(_held_since, "at", None)
            _held_since.at = None
            if began is not None:
                self.note(time.perf_counter() - began, work)

    def summary(self) -> str:
        """The process's holds so far, in a line (for its log when it stops)."""
        return (
            f"SQLite's write lock: {self.holds} transactions, {self.long_holds} held over "
            f"{1000 * self.long_hold:.0f} ms, the longest {1000 * self.longest:.0f} ms"
        )

    def note(self, seconds: float, work: object) -> None:
        with self._lock:
            self.holds += 1
            self.longest = max(self.longest, seconds)
            if seconds <= self.long_hold:
                return
            self.long_holds += 1
            if not self.report:
                return
            now = self._clock()
            if self._logged_at is not None and now - self._logged_at < self.every:
                self._unlogged += 1
                self._unlogged_longest = max(self._unlogged_longest, seconds)
                return
            more, longest = self._unlogged, self._unlogged_longest
            self._logged_at, self._unlogged, self._unlogged_longest = now, 0, 0.0
        log.warning(
            "SQLite's write lock held %.0f ms by %s (pid %d; the target is %.0f ms)%s",
            1000 * seconds,
            unit_name(work),
            os.getpid(),
            1000 * self.long_hold,
            f"; {more} more since the last line, the longest {1000 * longest:.0f} ms"
            if more
            else "",
        )
