"""The service's background work, started with the web app (`impact-bot serve`):

- the outbox sender, in every process (PostgreSQL: several processes drain one outbox);
- the scheduler, only in the process that leads (scheduler.leader), waking the round steps
  (rounds.services.steps) at their times and reconciling from the rounds table every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter

from bot.config import Settings
from bot.sender.outbox_sender import OutboxSender
from framework.content import Framework
from rounds.services import jobs as scheduled
from rounds.services.opening import RoundOpener
from rounds.services.steps import RoundJobs
from scheduler.leader import LeaderElection
from scheduler.service import Handler, SchedulerService
from store.db import Database

log = logging.getLogger(__name__)

# The SDK's HTTP client runs each request on the loop's default executor (msrest over requests),
# so replies and the sender's concurrent sends need more threads than Python's default of
# cpu + 4.
HTTP_THREADS = 32


class Background:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        adapter: CloudAdapter,
        framework: Framework,
        clock: Callable[[], datetime],
    ) -> None:
        self.sender = OutboxSender.from_settings(
            settings, db, clock=clock, share=1.0 / settings.service_processes
        )
        opener = RoundOpener(db, adapter, settings, framework, on_queued=self.sender.wake)
        self.rounds = RoundJobs(db, settings, framework, opener, on_queued=self.sender.wake)
        self.scheduler = SchedulerService(
            db,
            clock=clock,
            reconcile_seconds=settings.reconcile_seconds,
            jobs=scheduled.RoundJobs(db),
            handlers={
                scheduled.OPEN_ROUND: self._step(self.rounds.open_due),
                scheduled.CLOSE_ROUND: self._step(self.rounds.close_due),
                scheduled.REPEAT_ROUND: self._step(self.rounds.repeat_due),
                scheduled.NUDGES_TICK: self._step(self.rounds.nudge_due),
            },
        )
        self.leader = LeaderElection(settings.database_url)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @staticmethod
    def _step(step: Callable[[datetime], Awaitable[object]]) -> Handler:
        """Every round step looks at all rounds, so the job's key (the round id) is not needed."""

        async def handler(_key: str, now: datetime) -> None:
            await step(now)

        return handler

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
