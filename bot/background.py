"""The service's background work, started with the web app (`impact-bot serve`):

- the outbox sender, in every process (PostgreSQL: several processes drain one outbox);
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

from aiohttp import web

from bot.sender.outbox_sender import OutboxSender
from scheduler.leader import LeaderElection
from scheduler.service import ScheduledWork, SchedulerService, combine
from store.db import Database

log = logging.getLogger(__name__)

# The SDK's HTTP client runs each request on the loop's default executor (msrest over requests),
# so replies and the sender's concurrent sends need more threads than Python's default of
# cpu + 4.
HTTP_THREADS = 32


class Background:
    def __init__(
        self,
        db: Database,
        sender: OutboxSender,
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
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, _app: web.Application) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=HTTP_THREADS, thread_name_prefix="http")
        )
        self._tasks = [
            asyncio.create_task(self.sender.run(self._stop), name="outbox sender"),
            asyncio.create_task(self.scheduler.run(self.leader, self._stop), name="scheduler"),
        ]
        log.info("background work started: outbox sender, scheduler (while leading)")

    async def stop(self, _app: web.Application) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=20)
        await self.leader.release()
