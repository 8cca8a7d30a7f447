"""The service's Prometheus metrics (prometheus-client's default registry, one per process).

Counted as things happen: turns (by activity type, verb and outcome, with a latency
histogram), errors, and every request the outbox sender makes to Teams (latency, 429s, and
failures by HTTP status and Teams' error code). Read when /metrics is scraped (`refresh`):
the outbox's depth and the age of its oldest pending message, whether this process leads the
scheduler, the database connection pool, and the database's own counts (PostgreSQL's deadlock
victims run again, SQLite's long write-lock holds). The scheduler's job lag is
scheduler/metrics.py.

Labels are bounded: activity types and verbs come from Teams and our own registry (an unknown
verb is counted as "unknown"), error codes from Teams' documented set. No label ever holds an
id, a name or anything a person typed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.pool import QueuePool

from store.db import Database
from store.outbox_stats import OutboxHealth, outbox_health

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

TURNS = Counter(
    "impact_turns_total",
    "Activities from Teams handled, by activity type, card verb and outcome",
    ["activity_type", "verb", "outcome"],
)
TURN_SECONDS = Histogram(
    "impact_turn_duration_seconds",
    "Time from receiving an activity to answering it",
    ["activity_type", "verb"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "impact_errors_total",
    "Errors: failed turns (where=turn) and every ERROR log line (where=log, by logger)",
    ["where", "logger"],
)
TEAMS_REQUEST_SECONDS = Histogram(
    "impact_teams_request_duration_seconds",
    "Proactive requests to the Bot Connector (create a chat, send a message), answered or not",
    buckets=LATENCY_BUCKETS,
)
TEAMS_THROTTLED = Counter(
    "impact_teams_throttled_total", "Proactive requests Teams answered 429 (too many requests)"
)
TEAMS_FAILURES = Counter(
    "impact_teams_request_failures_total",
    "Proactive requests Teams refused or did not answer, by HTTP status and Teams error code",
    ["status", "code"],
)
OUTBOX_PENDING = Gauge("impact_outbox_pending", "Proactive messages waiting to be sent")
OUTBOX_FAILED = Gauge("impact_outbox_failed", "Proactive messages given up on (ever)")
OUTBOX_OLDEST_AGE = Gauge(
    "impact_outbox_oldest_pending_age_seconds",
    "Age of the oldest message still waiting (0 when none waits)",
)
SCHEDULER_LEADER = Gauge(
    "impact_scheduler_leader", "1 if this process leads and runs the scheduler, else 0"
)
DB_POOL_SIZE = Gauge("impact_db_pool_size", "Connections the database pool keeps")
DB_POOL_IN_USE = Gauge("impact_db_pool_in_use", "Database connections checked out now")
DB_POOL_OVERFLOW = Gauge("impact_db_pool_overflow", "Connections opened beyond the pool's size")
DB_DEADLOCK_VICTIMS = Counter(
    "impact_db_deadlock_victims_total",
    "PostgreSQL: units of work chosen as a deadlock's victim and run again (store.db)",
)
DB_LONG_LOCK_HOLDS = Counter(
    "impact_db_long_write_lock_holds_total",
    "SQLite: transactions that held the write lock over 50 ms (store.lock_holds)",
)
SCRAPE_ERRORS = Counter(
    "impact_metrics_refresh_failures_total", "Scrapes whose database figures could not be read"
)

UNKNOWN = "unknown"


def label(value: str, known: Collection[str]) -> str:
    """A label value from a bounded set: anything else is counted as "unknown"."""
    return value if value in known else UNKNOWN


def observe_turn(activity_type: str, verb: str, outcome: str, seconds: float) -> None:
    TURNS.labels(activity_type, verb, outcome).inc()
    TURN_SECONDS.labels(activity_type, verb).observe(seconds)
    if outcome == "error":
        ERRORS.labels("turn", "-").inc()


def observe_teams_request(seconds: float, status: int | None = None, code: str = "") -> None:
    """One proactive request: its time, and (when it failed) Teams' status and error code."""
    TEAMS_REQUEST_SECONDS.observe(seconds)
    if status == 429:
        TEAMS_THROTTLED.inc()
    if status is None or status >= 400:
        TEAMS_FAILURES.labels("none" if status is None else str(status), code or "-").inc()


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) log lines by logger: an alert on their rate needs no parsing."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        count_error_line(record.name)


def count_error_line(logger: str) -> None:
    """One ERROR (or worse) log line of `logger`'s, here or in the service's sender process."""
    ERRORS.labels("log", logger).inc()


@dataclass
class Sources:
    """What this process's scrape reads: its database, and whether it leads the scheduler."""

    db: Database
    clock: Callable[[], datetime]
    is_leader: Callable[[], bool] = lambda: False
    # What the database's own counts were at the last scrape (their counters grow by the rest)
    counted: dict[str, int] = field(default_factory=dict)


def _count_since_last_scrape(sources: Sources, counter: Counter, name: str, now: int) -> None:
    counter.inc(max(now - sources.counted.get(name, 0), 0))
    sources.counted[name] = now


async def refresh(sources: Sources) -> None:
    """Bring the read-at-scrape gauges up to date (one short query on the database pool)."""
    SCHEDULER_LEADER.set(1 if sources.is_leader() else 0)
    db = sources.db
    _count_since_last_scrape(sources, DB_DEADLOCK_VICTIMS, "deadlocks", db.deadlock_victims)
    _count_since_last_scrape(sources, DB_LONG_LOCK_HOLDS, "long holds", db.lock_holds.long_holds)
    pool = sources.db.engine.pool
    if isinstance(pool, QueuePool):
        DB_POOL_SIZE.set(pool.size())
        DB_POOL_IN_USE.set(pool.checkedout())
        DB_POOL_OVERFLOW.set(max(pool.overflow(), 0))
    now = sources.clock()
    try:
        health: OutboxHealth = await sources.db.run(lambda s: outbox_health(s, now))
    except Exception as exc:  # the scrape still answers; the failure is itself a metric
        SCRAPE_ERRORS.inc()
        logging.getLogger(__name__).warning("metrics: outbox figures unavailable: %s", exc)
        return
    OUTBOX_PENDING.set(health.pending)
    OUTBOX_FAILED.set(health.failed)
    OUTBOX_OLDEST_AGE.set(health.oldest_pending_age_seconds)
