"""A batch of a round step written in parts, a short transaction each.

A step reads and decides a batch of people at once (200 on SQLite), but on SQLite it writes
them a part at a time. The service has one writer thread, and SQLite has one write lock for the
whole database. A turn's write goes ahead of the step's next part on that thread
(store.db's lanes), but it cannot interrupt the part being written. So a turn waits for at most
one part, not a whole batch.

Measured in benchmarks/trust_scale.py (30 November, 15,000 people): a batch of 200 invitations
held the writer 10-24 ms, and the slowest answers in the open's first seconds had waited behind
one or two such batches.

PostgreSQL has no database-wide lock, and reads and decides 1,000 people at once; it writes them
250 at a time. Not for a lock: a part is CPU, the service's (its GIL) and the server's, that a
turn arriving meanwhile shares, and a turn in flight goes ahead of the next part
(`give_way`). Measured (trust_scale on PostgreSQL, 30 November evening): with the nudges of
1,000 people in one transaction (100-150 ms each), the answers during the due ticks had a p99
of 50 ms; in parts of 250 (45-55 ms each), 44 ms, and the p99 of all the steps' answers fell
from 38 to 30 ms (idle 16-17 ms); the due ticks took 1.18-1.34 s, not 0.98-1.13 s.

Each part is its own transaction, and every step's write is idempotent (dedupe keys,
compare-and-set), so a crash between parts leaves nothing that the next run would do twice.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import Session

from store.db import Database
from store.process_reads import KeptThere, ProcessReads

T = TypeVar("T")
P = TypeVar("P")

SQLITE_WRITE_PART = 50  # people per write transaction on SQLite
POSTGRESQL_WRITE_PART = 250  # and on PostgreSQL


def write_part_for(db: Database) -> int:
    """People per write transaction on `db`'s kind of database."""
    return SQLITE_WRITE_PART if db.is_sqlite else POSTGRESQL_WRITE_PART


async def write_in_parts(
    db: Database,
    items: Sequence[T],
    part: int,
    unit: Callable[[Sequence[T]], Callable[[Session], int]],
    give_way: Callable[[], Awaitable[None]],
) -> int:
    """Write `items` `part` at a time, each part `unit(part)` in its own transaction on the
    writer, giving way to turns in flight before every part after the first; the sum of what
    the units return."""
    total = 0
    for start in range(0, len(items), part):
        if start:
            await give_way()
        total += await db.run(unit(items[start : start + part]))
    return total


def write_in_parts_sync(
    database: Database,
    items: Sequence[T],
    part: int,
    unit: Callable[[Sequence[T]], Callable[[Session], int]],
) -> int:
    """`write_in_parts` where there are no turns to give way to (the worker process, which
    records a due tick's batches on PostgreSQL): each part in its own transaction, from this
    thread; the sum of what the units return."""
    return sum(
        database.run_sync(unit(items[start : start + part])) for start in range(0, len(items), part)
    )


@dataclass(frozen=True)
class WrittenBehind(Generic[P]):
    """What one call of a step's batch in the worker process did (`write_behind`)."""

    written: int  # what the writes that ended during the call returned (messages queued)
    drawn: int  # items drawn: fewer than the batch's size when it was the last
    after: P | None  # where the next batch starts


async def batches_in_worker(
    worker: ProcessReads,
    batch: Callable[[P | None], Callable[[Database], WrittenBehind[P]]],
    size: int,
    before_each: Callable[[], Awaitable[None]],
    on_written: Callable[[], None],
) -> int:
    """A step's batches drawn and written in the worker process on PostgreSQL, one call each
    (`batch(after)`, which uses `write_behind`), `before_each` awaited first (giving way to
    turns; the opener also keeps its lead), until a batch draws fewer than `size`; what they
    wrote in all. `on_written` after each call that wrote something (the sender wakes)."""
    total: int = 0
    after: P | None = None
    while True:
        await before_each()
        done = await worker.run(batch(after))
        if done.written:
            on_written()
        total += done.written
        if done.drawn < size:
            return total
        after = done.after


# In the worker process: each step's batch being written (by the step's key) while its next
# batch is drawn, on one thread of its own; at most a few steps' (one whose service gave up
# leaves its last batch here, written all the same).
_writing: KeptThere[concurrent.futures.Future[int]] = KeptThere(4)


def write_behind(
    key: str,
    database: Database,
    items: Sequence[T],
    part: int,
    unit: Callable[[Sequence[T]], Callable[[Session], int]],
    *,
    last: bool,
) -> int:
    """In the worker process, on PostgreSQL: `items` written in parts (`write_in_parts_sync`)
    on the worker's writing thread, while the caller draws the step's next batch on the
    worker's other connection, except the `last` batch, written before returning. What the
    step's batch before (same `key`) wrote, once written (its error, if it failed, raised
    here), plus, for the last, this one's."""
    before = _writing.pop(key, None)
    written = 0 if before is None else before.result()
    write = functools.partial(write_in_parts_sync, database, items, part, unit)
    if last:
        return written + write()
    _writing.keep(key, _writing_thread().submit(write))
    return written


@functools.cache
def _writing_thread() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="writes-behind")
