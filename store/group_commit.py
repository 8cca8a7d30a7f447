"""Group commit: small units of work that arrive while one is being written go together, as one
transaction, in the next.

The outbox sender records every message's outcome the moment Teams answers (docs/outbox.md: the
window for a duplicate is the time until that commit). While a round opens it does so hundreds
of times a second, and on SQLite each of those commits takes the database's one write lock, which
the service's answers need too. A unit of work that arrives while another is being written used
to wait for it, and then be written on its own. Now it waits for the same write, and then goes
with every other unit that arrived meanwhile, in one transaction: no unit waits for a group to
fill (the first is written at once), the number of transactions falls as the load rises, and a
unit waits no longer than it did before.

Each unit of work must stand alone (the outbox's outcomes are compare-and-set on one row): a
group is all or nothing, so a database error fails every unit in it, and each caller retries
its own as before. A unit that raises anything else is found by writing the group's units one
at a time, so one bad unit cannot fail the others.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session

from store.db import Database, DatabaseUnavailable, deadline

T = TypeVar("T")

_Unit = tuple[Callable[[Session], Any], "asyncio.Future[Any]"]


class GroupCommit:
    """Writes units of work through `db`, one transaction at a time, each holding every unit
    that arrived while the one before was written (at most `most`), each within `seconds`."""

    def __init__(self, db: Database, *, seconds: float, most: int = 64) -> None:
        self.db = db
        self.seconds = seconds
        self.most = most
        self.transactions = 0  # how many groups were written (for tests and benchmarks)
        self.units = 0  # how many units of work they held
        self._waiting: collections.deque[_Unit] = collections.deque()
        self._writer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)`, written in the next group; its result, or the group's error."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group = [self._waiting.popleft() for _ in range(min(self.most, len(self._waiting)))]
                await self._write(group)
        finally:
            self._writer = None

    async def _write(self, group: list[_Unit]) -> None:
        works = [work for work, _future in group]
        try:
            with deadline(self.seconds):  # its own: the task began in the first caller's context
                results = await self.db.run(functools.partial(_each, works))
        except DatabaseUnavailable as exc:
            for _work, future in group:
                _settle(future, error=exc)
            return
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], error=exc)
                return
            for unit in group:  # find the one that fails; the others are written alone
                await self._write([unit])
            return
        finally:
            self.transactions += 1
        self.units += len(group)
        for (_work, future), result in zip(group, results, strict=True):
            _settle(future, result=result)


def _each(works: list[Callable[[Session], Any]], session: Session) -> list[Any]:
    return [work(session) for work in works]


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():  # its caller stopped waiting (cancelled): the write stands, unanswered
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
