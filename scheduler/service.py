"""The scheduler: APScheduler 3 as a wake-up mechanism, reconciled from the tables.

The source tables (rounds; later huddle schedules) are the truth. A `JobSource` turns them into
the jobs that should exist (`JobSpec`s, keyed by what they do: `round:12:open`,
`round:12:close`, `round:12:repeat`, `nudges:tick`). Only the leader (scheduler.leader) runs an
APScheduler, with a persistent SQLAlchemyJobStore in the same database; every
`reconcile_seconds` it re-reads the source and makes the job store match: adds, changes and
removes jobs. That is how changes made by other processes (the CLI, another replica) are acted
on within seconds, although APScheduler 3 itself never notices jobs another process wrote.

The job store holds only a textual reference to `run_job` (a module-level coroutine function)
with `{"name": ..., "key": ...}`: no pickled closures or bound methods, so any version of the
service can load the jobs. The running service maps names to handlers given at start-up; a
handler is an idempotent `async def handler(key, now)` that looks at the tables and does what is
due, so tests call handlers directly with a moved clock and never wait on the scheduler.

Job policy, the same for every job (`JOB_POLICY`):

- `misfire_grace_time=None`: a job runs however late it is (after a restart, a failover or a
  long outage). The job only says "look now"; a late open or close must still happen, and the
  handler decides whether late work is still worth doing (a nudge outside someone's window, or
  after the round has closed, is not sent: the nudge rules say so, not the scheduler).
- `coalesce=True`: runs missed while no scheduler was running become one run. Handlers look at
  the tables, so one run catches up all that is due; sixty `nudges:tick` runs after an hour of
  downtime would only repeat the same question.
- `max_instances=1`: a slow run is not overlapped by the next run of the same job; a handler
  never races itself.

A one-shot job that has run is gone from the job store. While its source still asks for it
(the handler failed, say), the next reconcile adds it again, so a failed open or close is retried
every `reconcile_seconds` until its handler records the change that makes the source stop
asking. A `JobSource` must therefore stop asking for a job once its work is recorded.

APScheduler's AsyncIOScheduler queries its job store on the event loop. The service follows the
project's rule that the event loop never waits on the database: `OffLoopScheduler` runs every job
store call (processing due jobs, reconciling, start and shutdown) on one worker thread, and
`LoopExecutor` (both in scheduler.offloop) hands the due jobs back to the event loop as tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.leader import LeaderElection
from scheduler.offloop import LoopExecutor, OffLoopScheduler
from scheduler.work import Handler, JobSource, JobSpec
from store.db import Database, create_db_engine

log = logging.getLogger(__name__)

T = TypeVar("T")

JOB_TABLE = "apscheduler_jobs"  # excluded from our schema comparison (store.schema)
RUN_JOB_REF = "scheduler.service:run_job"
JOB_POLICY: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


@dataclass(frozen=True)
class ReconcileResult:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class StoredJob:
    """A job as the job store has it."""

    id: str
    name: str
    key: str
    next_run_time: datetime | None
    run_at: datetime | None = None
    every: timedelta | None = None
    policy: dict[str, Any] = field(default_factory=dict)


class SchedulerNotRunning(RuntimeError):
    """Only the leader runs a scheduler; this process does not lead (or has stopped)."""


# ---- the one callable the job store refers to -----------------------------------------------

_dispatcher: contextvars.ContextVar[Callable[[str, str], Awaitable[None]]] = contextvars.ContextVar(
    "impact_scheduler_dispatcher"
)


async def run_job(name: str, key: str = "") -> None:
    """What every stored job calls: the running service's handler registered as `name`."""
    try:
        dispatch = _dispatcher.get()
    except LookupError:
        raise RuntimeError("run_job runs only inside a SchedulerService's scheduler") from None
    await dispatch(name, key)


# ---- the service --------------------------------------------------------------------------


class SchedulerService:
    """Runs the APScheduler while this process leads, and keeps its jobs matching the source."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        reconcile_seconds: float,
        jobs: JobSource,
        handlers: Mapping[str, Handler],
    ) -> None:
        self._db = db
        self._clock = clock
        self._reconcile_seconds = reconcile_seconds
        self._jobs = jobs
        self._handlers = dict(handlers)
        self._scheduler: OffLoopScheduler | None = None
        self._io: ThreadPoolExecutor | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._reconcile_lock = asyncio.Lock()
        self._poked = asyncio.Event()
        self._failing = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def run(self, leader: LeaderElection, stop_event: asyncio.Event) -> None:
        """Until `stop_event` is set: run the scheduler exactly while `leader` leads."""
        await leader.run(self.start, self.stop, stop_event)

    async def start(self) -> None:
        """Start the scheduler, reconcile once, then keep reconciling every
        `reconcile_seconds`. Call only while leading. A failing reconcile is logged, not
        raised: the stored jobs still run, and the next reconcile tries again."""
        if self._scheduler is not None:
            return
        loop = asyncio.get_running_loop()
        io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")
        engine = create_db_engine(self._db.url, pool_size=2)
        scheduler = OffLoopScheduler(
            io,
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
            executors={"default": LoopExecutor(self._dispatch, _dispatcher)},
            job_defaults=dict(JOB_POLICY),
            timezone=UTC,
            event_loop=loop,
        )
        try:
            await loop.run_in_executor(io, scheduler.start)
        except BaseException:
            io.shutdown(wait=False)
            engine.dispose()
            raise
        self._scheduler, self._io = scheduler, io
        log.info("scheduler started (reconciling every %s s)", self._reconcile_seconds)
        await self._reconcile_logged()  # the job store matches the source before we return
        self._loop_task = loop.create_task(self._reconcile_loop(), name="scheduler reconcile")

    async def stop(self) -> None:
        """Stop the reconcile loop and the scheduler; cancels handlers still running."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        scheduler, io = self._scheduler, self._io
        self._scheduler = self._io = None
        if scheduler is not None:
            await scheduler.aclose()
            log.info("scheduler stopped")
        if io is not None:
            io.shutdown(wait=False)

    def poke(self) -> None:
        """Reconcile now rather than at the next interval (after a change made in-process)."""
        self._poked.set()

    async def reconcile(self, now: datetime | None = None) -> ReconcileResult:
        """Make the job store match the source's desired jobs: add, change, remove."""
        async with self._reconcile_lock:
            self._require_running()
            desired: dict[str, JobSpec] = {}
            for spec in await self._jobs.desired_jobs(now or self._clock()):
                if spec.name not in self._handlers:
                    log.error("job %s names no registered handler %r: skipped", spec.id, spec.name)
                elif desired.setdefault(spec.id, spec) != spec:
                    raise ValueError(f"two different jobs with the id {spec.id}")
            result = await self._in_io(_apply, self._require_running(), desired)
        if result:
            log.info(
                "reconciled jobs: added %s, changed %s, removed %s",
                list(result.added),
                list(result.changed),
                list(result.removed),
            )
        return result

    async def stored_jobs(self) -> list[StoredJob]:
        """The jobs in the job store, as the scheduler sees them."""
        scheduler = self._require_running()
        jobs = await self._in_io(scheduler.get_jobs)
        return [_stored(job) for job in jobs]

    async def _dispatch(self, name: str, key: str) -> None:
        handler = self._handlers.get(name)
        if handler is None:
            raise LookupError(f"no handler registered as {name!r}")
        await handler(key, self._clock())

    async def _reconcile_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._reconcile_seconds)
            self._poked.clear()
            await self._reconcile_logged()

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except Exception as exc:
            log.warning(
                "reconcile failed, trying again in %s s: %s",
                self._reconcile_seconds,
                exc,
                exc_info=not self._failing,  # the whole story once, then one line each time
            )
            self._failing = True
        else:
            self._failing = False

    def _require_running(self) -> OffLoopScheduler:
        if self._scheduler is None:
            raise SchedulerNotRunning("this process is not the leader; no scheduler runs here")
        return self._scheduler

    async def _in_io(self, work: Callable[..., T], *args: Any) -> T:
        if self._io is None:
            raise SchedulerNotRunning("the scheduler has stopped")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(work, *args))


# ---- reconciling (on the scheduler's worker thread) ---------------------------------------


def _apply(scheduler: OffLoopScheduler, desired: Mapping[str, JobSpec]) -> ReconcileResult:
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    stored = {job.id: job for job in scheduler.get_jobs()}
    for job_id in stored.keys() - desired.keys():
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:
            continue  # a one-shot job that has just run
        removed.append(job_id)
    for spec in desired.values():
        job = stored.get(spec.id)
        if job is not None and _fingerprint(_stored(job)) == _spec_fingerprint(spec):
            continue
        trigger = _trigger(spec)
        if job is not None:
            try:
                scheduler.modify_job(
                    spec.id,
                    func=RUN_JOB_REF,
                    kwargs=spec.kwargs,
                    name=spec.id,
                    trigger=trigger,
                    next_run_time=trigger.get_next_fire_time(None, datetime.now(UTC)),
                    **JOB_POLICY,
                )
                changed.append(spec.id)
                continue
            except JobLookupError:
                pass  # it ran and went in the meantime: add it afresh
        scheduler.add_job(
            RUN_JOB_REF,
            trigger=trigger,
            id=spec.id,
            name=spec.id,
            kwargs=spec.kwargs,
            replace_existing=True,
            **JOB_POLICY,
        )
        added.append(spec.id)
    return ReconcileResult(tuple(sorted(added)), tuple(sorted(changed)), tuple(sorted(removed)))


def _trigger(spec: JobSpec) -> DateTrigger | IntervalTrigger:
    if spec.run_at is not None:
        return DateTrigger(run_date=spec.run_at, timezone=UTC)
    assert spec.every is not None
    return IntervalTrigger(days=spec.every.days, seconds=spec.every.seconds, timezone=UTC)


def _stored(job: Any) -> StoredJob:
    trigger = job.trigger
    kwargs = job.kwargs if job.func_ref == RUN_JOB_REF else {}
    return StoredJob(
        id=job.id,
        name=str(kwargs.get("name", "")),
        key=str(kwargs.get("key", "")),
        next_run_time=job.next_run_time,
        run_at=trigger.run_date if isinstance(trigger, DateTrigger) else None,
        every=trigger.interval if isinstance(trigger, IntervalTrigger) else None,
        policy={
            "func": job.func_ref,
            "kwargs": dict(job.kwargs),
            "misfire_grace_time": job.misfire_grace_time,
            "coalesce": job.coalesce,
            "max_instances": job.max_instances,
        },
    )


def _fingerprint(job: StoredJob) -> tuple[Any, ...]:
    run_at = job.run_at.astimezone(UTC) if job.run_at is not None else None
    return (run_at, job.every, sorted(job.policy.items()))


def _spec_fingerprint(spec: JobSpec) -> tuple[Any, ...]:
    policy = {"func": RUN_JOB_REF, "kwargs": spec.kwargs, **JOB_POLICY}
    return (spec.run_at, spec.every, sorted(policy.items()))
