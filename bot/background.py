"""The service's background work, started with the web app (`impact-bot serve`):

- the outbox sender, for every service process (PostgreSQL: several processes drain one
  outbox), in a child process of its own (bot/sender/process.py) or, with
  IMPACT_SENDER_PROCESS=false or an in-memory database, in the service's;
- the scheduler, only in the process that leads (scheduler.leader), waking the features' steps
  at their times and reconciling from the features' job sources every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from aiohttp import web

from scheduler.leader import LeaderElection
from scheduler.service import SchedulerService
from scheduler.work import ScheduledWork, combine
from store.db import Database

log = logging.getLogger(__name__)

# The SDK's HTTP client runs each request on the loop's default executor (msrest over requests),
# so replies and the sender's concurrent sends need more threads than Python's default of
# cpu + 4.
HTTP_THREADS = 32
SENDS_STOP_SECONDS = 20.0  # the sends in flight: a request's timeout, and recording it
SCHEDULER_STOP_SECONDS = 15.0  # the scheduler's jobs (the leader allows itself 10 s of it)


class Sender(Protocol):
    """The outbox sender, in this process (bot.sender.outbox_sender.OutboxSender) or in a child
    process of its own (bot.sender.process.SenderProcess): it sends until `stop_event` is set,
    then finishes and records the requests in flight. `wake` (from the loop) says rows were
    queued, so it looks at once rather than at its next poll."""

    async def run(self, stop_event: asyncio.Event) -> None: ...

    def wake(self) -> None: ...


class Background:
    def __init__(
        self,
        db: Database,
        sender: Sender,
        works: Sequence[ScheduledWork],
        *,
        database_url: str,
        reconcile_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.sender = sender
        source, handlers = combine(works)
        self.scheduler = SchedulerService(
            db, clock=clock, reconcile_seconds=reconcile_seconds, jobs=source, handlers=handlers
        )
        self.leader = LeaderElection(database_url)
        self._stop = asyncio.Event()
        self._sender_task: asyncio.Task[None] | None = None
        self._scheduler_task: asyncio.Task[None] | None = None

    async def start(self, _app: web.Application) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=HTTP_THREADS, thread_name_prefix="http")
        )
        self._sender_task = asyncio.create_task(self.sender.run(self._stop), name="outbox sender")
        self._scheduler_task = asyncio.create_task(
            self.scheduler.run(self.leader, self._stop), name="scheduler"
        )
        log.info("background work started: outbox sender, scheduler (while leading)")

    async def stop(self, _app: web.Application) -> None:
        """Shut down in order, each step with its own time limit, so that a step that hangs
        never skips the ones after it: (turns are no longer taken: aiohttp stopped listening
        and finished the requests in flight before calling this) finish the sends in flight
        and record them; stop the scheduler; release the leader lock. The database is closed
        after this (its own `on_cleanup`)."""
        self._stop.set()
        try:
            await _finish(self._sender_task, SENDS_STOP_SECONDS, "the outbox sender")
            await _finish(self._scheduler_task, SCHEDULER_STOP_SECONDS, "the scheduler")
        finally:
            await self.leader.release()  # already released if the scheduler stopped in time
            log.info("background work stopped")


async def _finish(task: asyncio.Task[None] | None, seconds: float, what: str) -> None:
    """Wait for `task` to end after the stop was asked for; cancel it if it takes longer."""
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        log.error("%s did not stop within %ss: cancelled", what, seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed while stopping", what)
