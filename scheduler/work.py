"""What the scheduler runs, as the features declare it: the jobs that should exist (`JobSpec`s,
from a `JobSource`), and the handler of each job's name (`ScheduledWork`). The APScheduler that
runs them is scheduler.service's; this module does not import it, so that declaring a feature's
work (impact/features/) costs nothing where nothing is scheduled, as in an `impact-bot`
command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

MAX_JOB_ID = 191  # the job store's id column

Handler = Callable[[str, datetime], Awaitable[None]]
"""`async def handler(key, now)`: idempotent; looks at the tables and does what is due."""


@dataclass(frozen=True)
class JobSpec:
    """A job that should exist. Exactly one of `run_at` (once) or `every` (repeatedly)."""

    id: str  # what the job does, e.g. "round:12:open"; unique
    name: str  # the handler's name in the registry, e.g. "round.open"
    key: str = ""  # what the handler is given, e.g. "12"
    run_at: datetime | None = None  # naive means UTC, as the database stores it
    every: timedelta | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_JOB_ID:
            raise ValueError(f"job id must be 1 to {MAX_JOB_ID} characters: {self.id!r}")
        if not self.name:
            raise ValueError(f"job {self.id} has no handler name")
        if (self.run_at is None) == (self.every is None):
            raise ValueError(f"job {self.id} needs exactly one of run_at or every")
        if self.every is not None and (
            self.every < timedelta(seconds=1) or self.every.microseconds
        ):
            raise ValueError(f"job {self.id}: every must be a whole number of seconds, >= 1")
        if self.run_at is not None:
            moment = self.run_at
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            object.__setattr__(self, "run_at", moment.astimezone(UTC))

    @property
    def kwargs(self) -> dict[str, str]:
        """What the job store keeps besides the reference to `run_job`."""
        return {"name": self.name, "key": self.key}


class JobSource(Protocol):
    """Where the jobs that should exist come from (the rounds table, later huddle schedules)."""

    async def desired_jobs(self, now: datetime) -> list[JobSpec]: ...


class CombinedJobs:
    """Several job sources as one."""

    def __init__(self, *sources: JobSource) -> None:
        self._sources = sources

    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        return [spec for source in self._sources for spec in await source.desired_jobs(now)]


@dataclass(frozen=True)
class ScheduledWork:
    """What a feature hands the scheduler: where its jobs come from, and the handler of each
    job name it uses."""

    source: JobSource
    handlers: Mapping[str, Handler]


def combine(works: Sequence[ScheduledWork]) -> tuple[JobSource, dict[str, Handler]]:
    """Every feature's work as one source and one handler table (a job name is one feature's)."""
    handlers: dict[str, Handler] = {}
    for work in works:
        if clash := handlers.keys() & work.handlers.keys():
            raise ValueError(f"job names registered twice: {', '.join(sorted(clash))}")
        handlers.update(work.handlers)
    return CombinedJobs(*(work.source for work in works)), handlers
