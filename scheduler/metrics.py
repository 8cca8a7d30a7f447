"""The scheduler's Prometheus metrics: how late each job starts after its scheduled time (job
lag), by the job's handler name (a bounded set: "round.open", "nudges.tick", ...). A lag that
grows means the leader is overloaded, or was down and is catching up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Gauge, Histogram

JOB_LAG = Histogram(
    "impact_scheduler_job_lag_seconds",
    "Delay between a job's scheduled time and its start, by handler",
    ["job"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0),
)
LAST_JOB_LAG = Gauge(
    "impact_scheduler_last_job_lag_seconds", "The lag of each handler's latest run", ["job"]
)


def observe_job_start(
    name: str, run_times: Sequence[datetime], now: datetime | None = None
) -> None:
    """A job starts for its earliest missed run time (APScheduler coalesces the others)."""
    if not run_times:
        return
    started = now or datetime.now(UTC)
    lag = max((started - min(run_times)).total_seconds(), 0.0)
    JOB_LAG.labels(name).observe(lag)
    LAST_JOB_LAG.labels(name).set(lag)
