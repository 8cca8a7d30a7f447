"""APScheduler, kept off the event loop (see scheduler.service's docstring).

AsyncIOScheduler queries its job store on the event loop; `OffLoopScheduler` runs every job
store call (processing due jobs, reconciling, start and shutdown) on one worker thread, and
`LoopExecutor` hands the due jobs back to the event loop as tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler

from scheduler.metrics import observe_job_start

log = logging.getLogger(__name__)


class OffLoopScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """An AsyncIOScheduler whose job store calls run on one worker thread, not the event loop.

    AsyncIOScheduler.wakeup runs `_process_jobs` (SQL against the job store) on the loop; here
    it runs on `io`, and the loop only keeps the timer. Start and shut down from `io` too
    (`SchedulerService` does): `event_loop` must be given, as there is no running loop there.
    """

    def __init__(self, io: ThreadPoolExecutor, **options: Any) -> None:
        self._io = io
        self._processing = False
        self._again = False
        super().__init__(**options)

    def wakeup(self) -> None:  # from any thread
        loop = self._eventloop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_on_loop)

    def _wake_on_loop(self) -> None:
        if self.state == STATE_STOPPED:
            return
        self._stop_timer()
        if self._processing:
            self._again = True  # look again as soon as this pass is done
            return
        self._processing = True
        future = self._eventloop.run_in_executor(self._io, self._process_if_running)
        future.add_done_callback(self._processed)

    def _process_if_running(self) -> float | None:
        # A wake-up queued on the worker thread behind `shutdown` finds the scheduler stopped.
        return None if self.state == STATE_STOPPED else self._process_jobs()

    def _processed(self, future: asyncio.Future[float | None]) -> None:
        self._processing = False
        if self.state == STATE_STOPPED or future.cancelled():
            return
        if self._again:
            self._again = False
            self._wake_on_loop()
            return
        if (error := future.exception()) is not None:
            log.warning("processing due jobs failed: %s", error)
            self._start_timer(self.jobstore_retry_interval)
        else:
            self._start_timer(future.result())

    def shutdown(self, wait: bool = True) -> None:
        """Shut down here and now (call it from the worker thread; `aclose` does)."""
        BaseScheduler.shutdown(self, wait)
        loop = self._eventloop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_timer)

    async def aclose(self) -> None:
        if self.state == STATE_STOPPED:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io, functools.partial(self.shutdown, False))
        self._stop_timer()


class LoopExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs each job as a task on the scheduler's event loop, submitted from any thread, with
    the service's dispatcher in the task's context (`dispatcher`, which `run_job` reads)."""

    def __init__(
        self,
        dispatch: Callable[[str, str], Awaitable[None]],
        dispatcher: contextvars.ContextVar[Callable[[str, str], Awaitable[None]]],
    ) -> None:
        super().__init__()
        self._dispatch = dispatch
        self._dispatcher = dispatcher

    def _do_submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        def done(future: Future[Any]) -> None:
            self._pending_futures.discard(future)
            try:
                events = future.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        future = asyncio.run_coroutine_threadsafe(self._run(job, run_times), self._eventloop)
        self._pending_futures.add(future)
        future.add_done_callback(done)

    async def _run(self, job: Any, run_times: Sequence[datetime]) -> Any:
        self._dispatcher.set(self._dispatch)  # the task runs in its own copy of the context
        observe_job_start(str(job.kwargs.get("name", "?")), run_times)
        return await run_coroutine_job(job, job._jobstore_alias, run_times, self._logger.name)

    def shutdown(self, wait: bool = True) -> None:
        for future in list(self._pending_futures):
            future.cancel()
        self._pending_futures.clear()
