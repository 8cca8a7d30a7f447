"""The scheduler on SQLite and PostgreSQL: reconciling the job store from the rounds table, jobs
firing into registered handlers, leadership, and the persistent job store.

APScheduler fires on the wall clock, so these tests keep the injected clock at the real time and
put round times days ahead: nothing fires unless a test means it to. Tests that want a job to fire
give it a run time in the past (it runs at once: misfire_grace_time is None) and wait on an
asyncio.Event with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from rounds.services.jobs import CLOSE_ROUND, NUDGES_TICK, OPEN_ROUND, REPEAT_ROUND, RoundJobSource
from scheduler.leader import LeaderElection
from scheduler.service import (
    JOB_TABLE,
    RUN_JOB_REF,
    SchedulerNotRunning,
    SchedulerService,
    run_job,
)
from scheduler.work import JobSpec
from store.db import Database
from store.rounds.tables import Round
from store.schema import upgrade
from tests.conftest import Clock

pytestmark = pytest.mark.service

WAIT = 10.0  # seconds: the longest any test waits for something to happen
FAR = 3600.0  # a reconcile interval that never comes round during a test


@pytest.fixture
def clock() -> Clock:
    """The real time (see the module docstring), moved by hand from there."""
    return Clock(datetime.now(UTC).replace(microsecond=0))


class Calls:
    """A handler that records its calls and lets a test wait for them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, datetime]] = []
        self._changed = asyncio.Event()

    def handler(self, name: str) -> Callable[[str, datetime], Awaitable[None]]:
        async def handle(key: str, now: datetime) -> None:
            self.calls.append((name, key, now))
            self._changed.set()

        return handle

    def handlers(self) -> dict[str, Callable[[str, datetime], Awaitable[None]]]:
        names = (OPEN_ROUND, CLOSE_ROUND, REPEAT_ROUND, NUDGES_TICK, "test.ping")
        return {name: self.handler(name) for name in names}

    async def wait_for(self, count: int) -> None:
        async def enough() -> None:
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), WAIT)


class StaticJobs:
    """A job source a test sets by hand."""

    def __init__(self, *specs: JobSpec) -> None:
        self.specs = list(specs)
        self.asked = 0

    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        self.asked += 1
        return list(self.specs)


class BrokenJobs:
    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        raise RuntimeError("source unavailable")


def add_round(
    db: Database,
    now: datetime,
    *,
    status: str = "scheduled",
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    repeat_every: str | None = None,
    repeat_paused: bool = False,
    previous_round_id: int | None = None,
) -> int:
    opens = opens_at or now + timedelta(days=1)
    round_ = Round(
        name="Winter round",
        framework_id="nhs-impact",
        framework_version="1",
        status=status,
        opens_at=opens,
        closes_at=closes_at or opens + timedelta(days=14),
        repeat_every=repeat_every,
        repeat_paused=repeat_paused,
        previous_round_id=previous_round_id,
        created_by="test",
        created_at=now,
        updated_at=now,
    )

    def work(session: Any) -> int:
        session.add(round_)
        session.flush()
        assert round_.id is not None
        return round_.id

    return db.run_sync(work)


def change_round(db: Database, round_id: int, **values: Any) -> None:
    db.run_sync(
        lambda session: session.execute(sa.update(Round).filter_by(id=round_id).values(**values))
    )


def stored_rows(db: Database) -> dict[str, tuple[float | None, bytes]]:
    """The job store's table as another process reads it: id -> (next run time, job state)."""
    with db.engine.connect() as connection:
        if not sa.inspect(connection).has_table(JOB_TABLE):
            return {}
        rows = connection.execute(
            sa.text(f"SELECT id, next_run_time, job_state FROM {JOB_TABLE}")
        ).all()
    return {row.id: (row.next_run_time, bytes(row.job_state)) for row in rows}


def stored_state(db: Database, job_id: str) -> dict[str, Any]:
    state: dict[str, Any] = pickle.loads(stored_rows(db)[job_id][1])
    return state


async def eventually(condition: Callable[[], Awaitable[bool] | bool]) -> None:
    started = time.monotonic()
    while True:
        outcome = condition()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        if time.monotonic() - started > WAIT:
            pytest.fail(f"condition still false after {WAIT} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def service(db: Database, clock: Clock, calls: Calls) -> AsyncIterator[SchedulerService]:
    running = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=RoundJobSource(db), handlers=calls.handlers()
    )
    await running.start()
    yield running
    await running.stop()


# ---- reconciling ----------------------------------------------------------------------------


async def test_reconcile_makes_the_job_store_match_the_rounds_table(
    db: Database, service: SchedulerService, clock: Clock
) -> None:
    now = clock()
    scheduled = add_round(db, now, opens_at=now + timedelta(days=2))
    running = add_round(
        db, now, status="open", opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=6)
    )
    cancelled = add_round(db, now, status="cancelled")

    result = await service.reconcile(now)
    assert result.added == tuple(
        sorted([f"round:{scheduled}:open", f"round:{running}:close", "nudges:tick"])
    )
    assert (result.changed, result.removed) == ((), ())
    jobs = {job.id: job for job in await service.stored_jobs()}
    assert jobs.keys() == set(result.added)
    opening = jobs[f"round:{scheduled}:open"]
    assert (opening.name, opening.key) == (OPEN_ROUND, str(scheduled))
    assert opening.run_at == opening.next_run_time == now + timedelta(days=2)
    assert jobs[f"round:{running}:close"].run_at == now + timedelta(days=6)
    assert jobs["nudges:tick"].every == timedelta(minutes=1)
    assert not any(str(cancelled) in job_id for job_id in jobs)

    # Idempotent: nothing changes, in the result or in the table.
    before = stored_rows(db)
    assert not await service.reconcile(now)
    assert stored_rows(db) == before

    # The opening time moves (the CLI, say): the job moves with it.
    clock.advance(timedelta(minutes=1))
    change_round(db, scheduled, opens_at=now + timedelta(days=3))
    result = await service.reconcile(clock())
    assert (result.added, result.changed, result.removed) == (
        (),
        (f"round:{scheduled}:open",),
        (),
    )
    moved = {job.id: job for job in await service.stored_jobs()}[f"round:{scheduled}:open"]
    assert moved.run_at == moved.next_run_time == now + timedelta(days=3)
    assert not await service.reconcile(clock())

    # Cancelled: its job goes. Closed (no repeat): its job goes, and with no round open, the
    # nudge tick goes too.
    change_round(db, scheduled, status="cancelled")
    change_round(db, running, status="closed")
    result = await service.reconcile(clock())
    assert result.removed == tuple(
        sorted([f"round:{scheduled}:open", f"round:{running}:close", "nudges:tick"])
    )
    assert await service.stored_jobs() == []
    assert stored_rows(db) == {}
    assert not await service.reconcile(clock())


async def test_the_job_store_holds_only_a_reference_to_run_job_and_name_and_key(
    db: Database, service: SchedulerService, clock: Clock
) -> None:
    round_id = add_round(db, clock())
    await service.reconcile()
    state = stored_state(db, f"round:{round_id}:open")
    assert state["func"] == RUN_JOB_REF == "scheduler.service:run_job"
    assert state["args"] == ()
    assert state["kwargs"] == {"name": OPEN_ROUND, "key": str(round_id)}
    assert (state["misfire_grace_time"], state["coalesce"], state["max_instances"]) == (
        None,
        True,
        1,
    )


async def test_a_job_whose_policy_or_handler_differs_is_rewritten(
    db: Database, clock: Clock, calls: Calls
) -> None:
    jobs = StaticJobs(JobSpec("thing:1", "test.ping", "1", run_at=clock() + timedelta(days=1)))
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=jobs, handlers=calls.handlers()
    )
    await service.start()
    try:
        jobs.specs = [JobSpec("thing:1", OPEN_ROUND, "1", run_at=clock() + timedelta(days=1))]
        assert (await service.reconcile()).changed == ("thing:1",)
        jobs.specs = [JobSpec("thing:1", OPEN_ROUND, "1", every=timedelta(hours=1))]
        assert (await service.reconcile()).changed == ("thing:1",)
        [job] = await service.stored_jobs()
        assert (job.name, job.run_at, job.every) == (OPEN_ROUND, None, timedelta(hours=1))
        assert not await service.reconcile()
    finally:
        await service.stop()


async def test_unknown_handlers_are_skipped_and_duplicate_ids_refused(
    db: Database, clock: Clock, calls: Calls
) -> None:
    later = clock() + timedelta(days=1)
    jobs = StaticJobs(
        JobSpec("a", "no.such.handler", run_at=later), JobSpec("b", "test.ping", run_at=later)
    )
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=jobs, handlers=calls.handlers()
    )
    await service.start()
    try:
        assert [job.id for job in await service.stored_jobs()] == ["b"]
        jobs.specs.append(JobSpec("b", "test.ping", run_at=later + timedelta(hours=1)))
        with pytest.raises(ValueError, match="two different jobs with the id b"):
            await service.reconcile()
    finally:
        await service.stop()


def test_job_specs_are_checked() -> None:
    naive = datetime(2026, 12, 1, 9, 0)
    assert JobSpec("x", "h", run_at=naive).run_at == naive.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match="exactly one"):
        JobSpec("x", "h")
    with pytest.raises(ValueError, match="exactly one"):
        JobSpec("x", "h", run_at=naive, every=timedelta(minutes=1))
    with pytest.raises(ValueError, match="whole number of seconds"):
        JobSpec("x", "h", every=timedelta(milliseconds=1500))
    with pytest.raises(ValueError, match="job id"):
        JobSpec("x" * 192, "h", run_at=naive)


async def test_round_jobs_follow_each_rounds_state(db: Database, clock: Clock) -> None:
    now = clock()
    past = now - timedelta(days=30)
    scheduled = add_round(db, now)
    open_ = add_round(db, now, status="open", opens_at=past, closes_at=now + timedelta(days=1))
    repeating = add_round(db, now, status="closed", opens_at=past, repeat_every="6m")
    add_round(db, now, status="closed", opens_at=past)  # no repeat
    add_round(db, now, status="closed", opens_at=past, repeat_every="6m", repeat_paused=True)
    repeated = add_round(db, now, status="closed", opens_at=past, repeat_every="6m")
    add_round(db, now, previous_round_id=repeated)  # its successor: scheduled
    add_round(db, now, status="cancelled")

    specs = {spec.id: spec for spec in await RoundJobSource(db).desired_jobs(now)}
    successor = repeated + 1
    assert set(specs) == {
        f"round:{scheduled}:open",
        f"round:{open_}:close",
        f"round:{repeating}:repeat",
        f"round:{successor}:open",
        "nudges:tick",
    }
    assert specs[f"round:{open_}:close"] == JobSpec(
        f"round:{open_}:close", CLOSE_ROUND, str(open_), run_at=now + timedelta(days=1)
    )
    assert specs[f"round:{repeating}:repeat"].run_at == past + timedelta(days=14)
    assert specs[f"round:{repeating}:repeat"].name == REPEAT_ROUND
    assert specs["nudges:tick"].every == timedelta(minutes=1)
    assert all(spec.run_at is None or spec.run_at.tzinfo is not None for spec in specs.values())


# ---- firing -----------------------------------------------------------------------------------


async def test_due_jobs_fire_into_their_registered_handlers_with_the_injected_clock(
    db: Database, clock: Clock, calls: Calls
) -> None:
    real_now = datetime.now(UTC)
    jobs = StaticJobs(
        # An hour late (the service was down, say): runs all the same.
        JobSpec("round:7:open", OPEN_ROUND, "7", run_at=real_now - timedelta(hours=1)),
        JobSpec("round:8:close", CLOSE_ROUND, "8", run_at=real_now + timedelta(milliseconds=300)),
        JobSpec("round:9:close", CLOSE_ROUND, "9", run_at=real_now + timedelta(days=1)),
    )
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=jobs, handlers=calls.handlers()
    )
    clock.advance(timedelta(days=40))  # handlers are given the service's clock, not the wall's
    await service.start()
    try:
        await calls.wait_for(2)
        assert sorted(calls.calls) == [
            (CLOSE_ROUND, "8", clock()),
            (OPEN_ROUND, "7", clock()),
        ]

        # One-shot jobs that ran are gone from the store.
        async def only_the_future_one_left() -> bool:
            return [job.id for job in await service.stored_jobs()] == ["round:9:close"]

        await eventually(only_the_future_one_left)
    finally:
        await service.stop()


async def test_a_job_the_source_still_asks_for_runs_again_at_the_next_reconcile(
    db: Database, clock: Clock
) -> None:
    """A failed open is retried: the source still asks for it until the handler records it."""
    attempts: list[str] = []
    done = asyncio.Event()

    async def flaky_open(key: str, now: datetime) -> None:
        attempts.append(key)
        if len(attempts) == 1:
            raise RuntimeError("database blip")
        done.set()

    jobs = StaticJobs(JobSpec("round:3:open", OPEN_ROUND, "3", run_at=datetime.now(UTC)))
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=0.1, jobs=jobs, handlers={OPEN_ROUND: flaky_open}
    )
    await service.start()
    try:
        await asyncio.wait_for(done.wait(), WAIT)
        assert attempts[:2] == ["3", "3"]
    finally:
        await service.stop()


async def test_the_job_store_is_never_used_on_the_event_loop(
    db: Database, clock: Clock, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AsyncIOScheduler would query the job store on the loop; ours does it on its thread."""
    used_on: set[int] = set()
    for method in (
        "start",
        "shutdown",
        "get_due_jobs",
        "get_next_run_time",
        "get_all_jobs",
        "lookup_job",
        "add_job",
        "update_job",
        "remove_job",
    ):
        original = getattr(SQLAlchemyJobStore, method)

        def spy(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            used_on.add(threading.get_ident())
            return _original(*args, **kwargs)

        monkeypatch.setattr(SQLAlchemyJobStore, method, spy)

    jobs = StaticJobs(JobSpec("round:1:open", OPEN_ROUND, "1", run_at=datetime.now(UTC)))
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=jobs, handlers=calls.handlers()
    )
    await service.start()
    try:
        await calls.wait_for(1)
        jobs.specs = [JobSpec("round:1:close", CLOSE_ROUND, "1", every=timedelta(hours=1))]
        await service.reconcile()
        jobs.specs = [JobSpec("round:1:close", CLOSE_ROUND, "1", every=timedelta(hours=2))]
        await service.reconcile()
        jobs.specs = []
        await service.reconcile()
    finally:
        await service.stop()
    assert used_on
    assert threading.get_ident() not in used_on


async def test_run_job_outside_a_scheduler_says_so() -> None:
    with pytest.raises(RuntimeError, match="only inside a SchedulerService"):
        await run_job("round.open", "1")


# ---- the reconcile loop, leadership and restarts --------------------------------------------


async def test_a_change_made_by_another_process_is_acted_on_within_seconds(
    db: Database, database_url: str, clock: Clock, calls: Calls
) -> None:
    service = SchedulerService(
        db, clock=clock, reconcile_seconds=0.2, jobs=RoundJobSource(db), handlers=calls.handlers()
    )
    await service.start()
    other_process = Database(database_url, pool_size=1)  # the CLI, on its own connection
    try:
        assert await service.stored_jobs() == []
        started = time.monotonic()
        round_id = add_round(other_process, clock(), opens_at=clock() + timedelta(days=1))

        async def scheduled() -> bool:
            return [job.id for job in await service.stored_jobs()] == [f"round:{round_id}:open"]

        await eventually(scheduled)
        assert time.monotonic() - started < 10  # the requirement: within 10 s

        # "Close now" from the CLI: the round's close job is due at once and runs.
        change_round(other_process, round_id, status="open", closes_at=clock())
        await calls.wait_for(1)
        assert calls.calls[0][:2] == (CLOSE_ROUND, str(round_id))
    finally:
        other_process.dispose()
        await service.stop()


async def test_only_the_leader_creates_jobs_and_a_follower_takes_over(
    db: Database, database_url: str, clock: Clock, calls: Calls
) -> None:
    class CountingElection(LeaderElection):
        tries = 0

        async def acquire(self) -> bool:
            self.tries += 1
            return await super().acquire()

    one_jobs = StaticJobs(JobSpec("nudges:tick", NUDGES_TICK, every=timedelta(minutes=1)))
    two_jobs = StaticJobs(JobSpec("nudges:tick", NUDGES_TICK, every=timedelta(minutes=1)))
    one = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=one_jobs, handlers=calls.handlers()
    )
    two = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=two_jobs, handlers=calls.handlers()
    )
    one_leader = CountingElection(database_url, retry_seconds=0.1, check_seconds=0.1)
    two_leader = CountingElection(database_url, retry_seconds=0.1, check_seconds=0.1)
    one_stop, two_stop = asyncio.Event(), asyncio.Event()

    one_task = asyncio.create_task(one.run(one_leader, one_stop))
    await eventually(lambda: one.running)
    two_task = asyncio.create_task(two.run(two_leader, two_stop))
    try:
        # The follower keeps trying, and never runs a scheduler or asks its source for jobs.
        await eventually(lambda: two_leader.tries >= 5)
        assert not two.running
        assert two_jobs.asked == 0
        with pytest.raises(SchedulerNotRunning):
            await two.reconcile()
        assert one_jobs.asked == 1
        assert list(stored_rows(db)) == ["nudges:tick"]

        # The leader stops (shut down, or lost its lock): the follower takes over and
        # reconciles the same store, which already holds the job.
        one_stop.set()
        await asyncio.wait_for(one_task, WAIT)
        assert not one.running
        await eventually(lambda: two.running)
        assert two_jobs.asked == 1
        assert not await two.reconcile()
        assert list(stored_rows(db)) == ["nudges:tick"]
    finally:
        one_stop.set()
        two_stop.set()
        await asyncio.wait_for(asyncio.gather(one_task, two_task), WAIT)
    assert not two.running


async def test_jobs_survive_a_restart_and_run_from_the_store_alone(
    db: Database, clock: Clock, calls: Calls
) -> None:
    # Due after the first scheduler has stopped (it takes well under a second to start and
    # stop), and soon enough for the second to run it in a short bounded wait.
    soon = datetime.now(UTC) + timedelta(seconds=2)
    later = datetime.now(UTC) + timedelta(days=2)
    first_calls = Calls()
    first = SchedulerService(
        db,
        clock=clock,
        reconcile_seconds=FAR,
        jobs=StaticJobs(
            JobSpec("round:1:open", OPEN_ROUND, "1", run_at=later),
            JobSpec("round:2:close", CLOSE_ROUND, "2", run_at=soon),
        ),
        handlers=first_calls.handlers(),
    )
    with pytest.raises(SchedulerNotRunning):
        await first.reconcile()
    await first.start()
    await first.stop()
    assert first_calls.calls == [], "the first scheduler was too slow to stop before 'soon'"
    assert set(stored_rows(db)) == {"round:1:open", "round:2:close"}

    # A new process whose source can't be read: the stored jobs run all the same.
    second = SchedulerService(
        db, clock=clock, reconcile_seconds=FAR, jobs=BrokenJobs(), handlers=calls.handlers()
    )
    await second.start()
    try:
        stored = {job.id: job for job in await second.stored_jobs()}
        assert set(stored) == {"round:1:open", "round:2:close"}
        assert stored["round:1:open"].run_at == later
        await calls.wait_for(1)
        assert calls.calls == [(CLOSE_ROUND, "2", clock())]
        with pytest.raises(RuntimeError, match="source unavailable"):
            await second.reconcile()
    finally:
        await second.stop()
    assert set(stored_rows(db)) == {"round:1:open"}


async def test_a_leader_that_loses_its_postgres_session_stops_its_scheduler(
    postgres_url: str, clock: Clock, calls: Calls
) -> None:
    db = Database(postgres_url, pool_size=2)
    upgrade(db.engine)
    services = [
        SchedulerService(
            db, clock=clock, reconcile_seconds=FAR, jobs=StaticJobs(), handlers=calls.handlers()
        )
        for _ in range(2)
    ]
    elections = [
        LeaderElection(postgres_url, retry_seconds=0.1, check_seconds=0.1) for _ in services
    ]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(service.run(election, stop))
        for service, election in zip(services, elections, strict=True)
    ]
    try:
        await eventually(lambda: [s.running for s in services].count(True) == 1)
        leader = next(s for s in services if s.running)
        follower = next(s for s in services if not s.running)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'impact-bot leader' AND datname = current_database()"
                " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
            )
        await eventually(lambda: follower.running and not leader.running)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        db.dispose()
    assert not any(s.running for s in services)
