"""The huddles posted, read back (store.huddles.occurrences), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from store.db import Database
from store.huddles.occurrences import Claim, claim, last_posted_dates
from store.huddles.schedules import ScheduleSpec, create_schedule
from store.teams import TeamInstall, record_install

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WARD = "19:ward7@thread.tacv2"


def two_schedules_posted(session: Any) -> tuple[int, int]:
    """Morning posted on two days (and a second slot on the later), Evening on one."""
    team = record_install(
        session, TeamInstall("tenant", WARD, None, "Ward 7", WARD, "https://x/", "{}"), NOW
    )
    assert team.id is not None
    ids = []
    for name, days in (("Morning", (24, 25)), ("Evening", (23,))):
        spec = ScheduleSpec(WARD, name, "safety", frozenset({1, 2, 3}), time(8), "Europe/London")
        schedule = create_schedule(session, spec, actor="test", now=NOW)
        assert schedule.id is not None
        ids.append(schedule.id)
        for day in days:
            posted = Claim(schedule.id, team.id, date(2026, 11, day), 0, NOW, WARD, f"{name}{day}")
            assert claim(session, posted, NOW) is not None
    extra = Claim(ids[0], team.id, date(2026, 11, 26), 1, NOW, WARD, "Morning26-1")
    assert claim(session, extra, NOW) is not None  # a second slot: not a scheduled post
    return ids[0], ids[1]


def test_the_last_posted_date_of_every_schedule_or_of_the_ones_asked(db: Database) -> None:
    morning, evening = db.run_sync(two_schedules_posted)
    every = db.run_sync(last_posted_dates)
    assert every == {morning: date(2026, 11, 25), evening: date(2026, 11, 23)}
    only = db.run_sync(lambda s: last_posted_dates(s, [evening]))
    assert only == {evening: date(2026, 11, 23)}
    assert db.run_sync(lambda s: last_posted_dates(s, [])) == {}
