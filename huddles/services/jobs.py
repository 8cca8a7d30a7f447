"""The jobs the huddle tables ask for. Each is named after what it does, so it is idempotent.

| Table row                                   | Job                          | When               |
|---------------------------------------------|------------------------------|--------------------|
| an active schedule (not paused or deleted)  | `huddle:S:post:YYYY-MM-DD`   | its next prompt    |
| any schedule, or any open action/escalation | `huddles:tick`               | every minute       |

The prompt job is for the schedule's next huddle still worth posting: the first one after the
last posted date whose prompt time is at most 30 minutes ago (the late rule), so a job that
fires late after downtime still posts within the limit and a posted prompt's job is no longer
asked for. Changes to a schedule (from Teams, the CLI or another replica) change the job at the
next reconcile. The tick escalates, nudges action owners and sends Monday's digests, and posts
anything due as a safety net (the posting step never posts a huddle twice).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from huddles.rules.schedule import next_to_post
from scheduler.work import JobSpec
from store.db import Database
from store.huddles.items import has_open_work
from store.huddles.occurrences import last_posted_dates
from store.huddles.schedules import active_schedules, schedules, timing_of

POST = "huddle.post"
TICK = "huddles.tick"
TICK_EVERY = timedelta(minutes=1)
LOOK_AHEAD_DAYS = 400  # a schedule with no huddle in this long asks for no prompt job


class HuddleJobSource:
    """A `JobSource` over the huddle tables."""

    def __init__(self, db: Database, *, tick_every: timedelta = TICK_EVERY) -> None:
        self._db = db
        self._tick_every = tick_every

    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        return await self._db.run(lambda s: self._read(s, now))

    def _read(self, session: Session, now: datetime) -> list[JobSpec]:
        jobs: list[JobSpec] = []
        last = last_posted_dates(session)
        for schedule, _team in active_schedules(session):
            assert schedule.id is not None
            posted = last.get(schedule.id)
            coming = next_to_post(timing_of(schedule), now, posted)
            if coming is not None and coming.post_at <= now + timedelta(days=LOOK_AHEAD_DAYS):
                job_id = f"huddle:{schedule.id}:post:{coming.local_date.isoformat()}"
                jobs.append(JobSpec(job_id, POST, str(schedule.id), run_at=coming.post_at))
        if schedules(session) or has_open_work(session):
            jobs.append(JobSpec("huddles:tick", TICK, every=self._tick_every))
        return jobs
