"""The jobs the rounds table asks for. Each is named after what it does, so it is idempotent.

| Round                                              | Job               | When           |
|----------------------------------------------------|-------------------|----------------|
| scheduled                                          | `round:N:open`    | `opens_at`     |
| open                                               | `round:N:close`   | `closes_at`    |
| closed, summaries not all queued (interrupted)     | `round:N:close`   | `closes_at`    |
| closed, `repeat_every` set, not paused, no successor | `round:N:repeat` | `closes_at`    |
| any round open                                     | `nudges:tick`     | every minute   |
| an open round with a team whose roster is pending  | `rosters:retry`   | every 2 minutes |

A cancelled round asks for nothing, so its jobs are removed at the next reconcile. Each step's
handler records its work in the table (status `open`, status `closed`, a successor round with
`previous_round_id = N`), and the job is no longer asked for; until then a failed step is retried
at every reconcile. Handlers are registered under the names below (`OPEN_ROUND`, ...), each as
`async def handler(key, now)` with `key` the round id as text (empty for `nudges:tick`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from scheduler.work import Handler, JobSpec
from store.db import Database
from store.rounds.pending import any_pending
from store.rounds.steps import rounds_wanting_jobs

OPEN_ROUND = "round.open"
CLOSE_ROUND = "round.close"
REPEAT_ROUND = "round.repeat"
NUDGES_TICK = "nudges.tick"
RETRY_ROSTERS = "rosters.retry"

NUDGE_TICK_EVERY = timedelta(minutes=1)
ROSTER_RETRY_EVERY = timedelta(minutes=2)


class RoundJobSource:
    """A `JobSource` over the rounds table."""

    def __init__(self, db: Database, *, nudge_every: timedelta = NUDGE_TICK_EVERY) -> None:
        self._db = db
        self._nudge_every = nudge_every

    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        return await self._db.run(self._read)

    def _read(self, session: Session) -> list[JobSpec]:
        rounds = rounds_wanting_jobs(session)
        jobs: list[JobSpec] = []
        for round_ in rounds:
            key = str(round_.id)
            if round_.status == "scheduled":
                jobs.append(JobSpec(f"round:{key}:open", OPEN_ROUND, key, run_at=round_.opens_at))
            elif round_.status == "open" or (
                round_.closed_at is not None and round_.summaries_queued_at is None
            ):
                jobs.append(
                    JobSpec(f"round:{key}:close", CLOSE_ROUND, key, run_at=round_.closes_at)
                )
            else:
                jobs.append(
                    JobSpec(f"round:{key}:repeat", REPEAT_ROUND, key, run_at=round_.closes_at)
                )
        if any(round_.status == "open" for round_ in rounds):
            jobs.append(JobSpec("nudges:tick", NUDGES_TICK, every=self._nudge_every))
        if any_pending(session):
            jobs.append(JobSpec("rosters:retry", RETRY_ROSTERS, every=ROSTER_RETRY_EVERY))
        return jobs


def run_all(step: Callable[[datetime], Awaitable[object]]) -> Handler:
    """Every round step looks at all rounds, so the job's key (the round id) is not needed."""

    async def handler(_key: str, now: datetime) -> None:
        await step(now)

    return handler
