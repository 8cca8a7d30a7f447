"""When a huddle prompt is posted (huddles.rules.schedule): days, skips, bank holidays, clock
changes, late posting, and the parsing helpers. Pure, no clock."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huddles.rules.schedule import (
    HuddleTiming,
    Occurrence,
    ScheduleError,
    due_post,
    next_to_post,
    occurrence_on,
    occurrences,
    parse_days,
    parse_time,
)
from rounds.rules.schedule import is_bank_holiday

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A London wall-clock time (the first one, if the clock shows it twice), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def timing(
    days: frozenset[int] = WEEKDAYS,
    at: time = time(8, 30),
    *,
    zone: str = "Europe/London",
    skip_bank_holidays: bool = True,
    lead_minutes: int = 0,
    paused: bool = False,
    skip_dates: frozenset[date] = frozenset(),
) -> HuddleTiming:
    return HuddleTiming(
        days, at, zone, skip_bank_holidays, lead_minutes, paused, frozenset(skip_dates)
    )


def dates(found: list[Occurrence]) -> list[date]:
    return [o.local_date for o in found]


def first(t: HuddleTiming, after: datetime, count: int) -> list[Occurrence]:
    return list(itertools.islice(occurrences(t, after), count))


def next_post(t: HuddleTiming, after: datetime) -> Occurrence | None:
    """The first huddle whose prompt is posted strictly after `after`."""
    return next(occurrences(t, after), None)


# ---- days, skips and bank holidays -----------------------------------------------------------


def test_wall_clock_time_follows_summer_time() -> None:
    winter = next_post(timing(), london(2026, 1, 5))  # Monday
    summer = next_post(timing(), london(2026, 7, 6))
    assert winter == Occurrence(date(2026, 1, 5), utc(2026, 1, 5, 8, 30), utc(2026, 1, 5, 8, 30))
    assert summer is not None
    assert summer.huddle_at == utc(2026, 7, 6, 7, 30)


def test_easter_bank_holidays_are_skipped_only_when_asked() -> None:
    # Good Friday 3 April 2026 and Easter Monday 6 April 2026.
    after = london(2026, 4, 2)
    assert dates(first(timing(), after, 3)) == [
        date(2026, 4, 2),
        date(2026, 4, 7),
        date(2026, 4, 8),
    ]
    assert dates(first(timing(skip_bank_holidays=False), after, 3)) == [
        date(2026, 4, 2),
        date(2026, 4, 3),
        date(2026, 4, 6),
    ]


def test_skip_dates_and_chosen_days() -> None:
    t = timing(frozenset({0, 3}), skip_dates=frozenset({date(2026, 6, 11)}))  # Mon, Thu
    found = first(t, london(2026, 6, 8), 4)
    assert dates(found) == [
        date(2026, 6, 8),
        date(2026, 6, 15),
        date(2026, 6, 18),
        date(2026, 6, 22),
    ]


def test_lead_minutes_post_before_the_huddle() -> None:
    found = next_post(timing(lead_minutes=45), london(2026, 1, 5))
    assert found is not None
    assert found.huddle_at == london(2026, 1, 5, 8, 30)
    assert found.post_at == london(2026, 1, 5, 7, 45)


def test_after_is_exclusive_and_counts_the_post_not_the_huddle() -> None:
    t = timing(lead_minutes=30)
    post = london(2026, 1, 5, 8, 0)
    assert next_post(t, post - timedelta(seconds=1)) == occurrence_on(t, date(2026, 1, 5))
    following = next_post(t, post)  # posted at 08:00: the next is Tuesday's, though the
    assert following is not None  # huddle itself is still to come
    assert following.local_date == date(2026, 1, 6)


def test_paused_or_no_days_means_no_huddles() -> None:
    after = london(2026, 1, 5)
    assert next_post(timing(paused=True), after) is None
    assert list(occurrences(timing(paused=True), after)) == []
    assert next_post(timing(frozenset()), after) is None
    assert occurrence_on(timing(paused=True), date(2026, 1, 5)) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_post(timing(), datetime(2026, 1, 5, 8))
    with pytest.raises(ValueError, match="timezone-aware"):
        due_post(timing(), datetime(2026, 1, 5, 8), None)


# ---- clock changes (Europe/London) ---------------------------------------------------------

SPRING_2026, AUTUMN_2026 = date(2026, 3, 29), date(2026, 10, 25)
SPRING_2027, AUTUMN_2027 = date(2027, 3, 28), date(2027, 10, 31)


@pytest.mark.parametrize("day", [SPRING_2026, SPRING_2027])
def test_a_time_skipped_in_spring_moves_forward_by_the_gap(day: date) -> None:
    # The clocks go from 01:00 GMT to 02:00 BST: 01:30 does not exist that Sunday.
    found = occurrence_on(timing(EVERY_DAY, time(1, 30)), day)
    assert found is not None
    assert found.huddle_at == datetime.combine(day, time(1, 30), UTC)  # = 02:30 BST
    local = found.huddle_at.astimezone(LONDON)
    assert (local.time(), local.tzname()) == (time(2, 30), "BST")
    # The day after, 01:30 BST exists again. (Monday 29 March 2027 is Easter Monday.)
    every_day = timing(EVERY_DAY, time(1, 30), skip_bank_holidays=False)
    after = occurrence_on(every_day, day + timedelta(days=1))
    assert after is not None
    assert after.huddle_at == datetime.combine(day + timedelta(days=1), time(0, 30), UTC)


@pytest.mark.parametrize("day", [AUTUMN_2026, AUTUMN_2027])
def test_a_time_repeated_in_autumn_means_the_first_one(day: date) -> None:
    # The clocks go from 02:00 BST back to 01:00 GMT: 01:30 happens twice; the first is BST.
    found = occurrence_on(timing(EVERY_DAY, time(1, 30)), day)
    assert found is not None
    assert found.huddle_at == datetime.combine(day, time(0, 30), UTC)
    local = found.huddle_at.astimezone(LONDON)
    assert (local.time(), local.tzname()) == (time(1, 30), "BST")


@pytest.mark.parametrize("day", [SPRING_2026, AUTUMN_2026, SPRING_2027, AUTUMN_2027])
def test_ordinary_times_on_clock_change_days_keep_their_wall_time(day: date) -> None:
    found = occurrence_on(timing(EVERY_DAY, time(8, 30), lead_minutes=120), day)
    assert found is not None
    assert found.huddle_at.astimezone(LONDON).time() == time(8, 30)
    assert found.huddle_at - found.post_at == timedelta(minutes=120)


def test_lead_is_elapsed_time_across_the_change() -> None:
    # 03:00 BST on the spring Sunday, posted 120 minutes before: 00:00 GMT. The lead is elapsed
    # time, so the wall clock shows three hours between them (the hour 01:00–02:00 was skipped).
    found = occurrence_on(timing(EVERY_DAY, time(3, 0), lead_minutes=120), SPRING_2026)
    assert found is not None
    assert found.post_at == utc(2026, 3, 29, 0, 0)
    assert found.post_at.astimezone(LONDON).time() == time(0, 0)


def test_occurrences_step_over_the_clock_changes_day_by_day() -> None:
    t = timing(EVERY_DAY, time(1, 30), skip_bank_holidays=False)
    found = first(t, london(2026, 3, 28), 3)
    assert [o.huddle_at for o in found] == [
        utc(2026, 3, 28, 1, 30),  # GMT
        utc(2026, 3, 29, 1, 30),  # the gap: 02:30 BST
        utc(2026, 3, 30, 0, 30),  # BST
    ]
    found = first(t, london(2026, 10, 24), 3)
    assert [o.huddle_at for o in found] == [
        utc(2026, 10, 24, 0, 30),  # BST
        utc(2026, 10, 25, 0, 30),  # the first 01:30, BST
        utc(2026, 10, 26, 1, 30),  # GMT
    ]


# ---- due_post: late posting and never twice --------------------------------------------------

MONDAY = date(2026, 1, 5)
POST = london(2026, 1, 5, 8, 0)  # 08:30 huddle, 30 minutes' lead
LEAD_30 = timing(lead_minutes=30)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (POST - timedelta(seconds=1), False),
        (POST, True),
        (POST + timedelta(minutes=29), True),
        (POST + timedelta(minutes=30), True),  # the late limit is inclusive
        (POST + timedelta(minutes=30, seconds=1), False),  # missed for too long: dropped
        (POST + timedelta(hours=5), False),
    ],
)
def test_due_from_post_at_until_the_late_limit(now: datetime, due: bool) -> None:
    found = due_post(LEAD_30, now, None)
    assert (found == occurrence_on(LEAD_30, MONDAY)) if due else found is None


def test_never_posted_twice() -> None:
    assert due_post(LEAD_30, POST + timedelta(minutes=5), MONDAY) is None
    assert due_post(LEAD_30, POST + timedelta(minutes=5), date(2026, 1, 6)) is None
    found = due_post(LEAD_30, POST + timedelta(minutes=5), date(2026, 1, 2))
    assert found is not None
    assert found.local_date == MONDAY


def test_nothing_due_on_a_skipped_day_a_bank_holiday_or_while_paused() -> None:
    skipped = timing(lead_minutes=30, skip_dates=frozenset({MONDAY}))
    assert due_post(skipped, POST, None) is None
    assert due_post(timing(lead_minutes=30, paused=True), POST, None) is None
    easter_monday = london(2026, 4, 6, 8, 0)
    assert due_post(LEAD_30, easter_monday, None) is None
    found = due_post(timing(lead_minutes=30, skip_bank_holidays=False), easter_monday, None)
    assert found is not None
    assert found.local_date == date(2026, 4, 6)


def test_a_prompt_posted_the_evening_before_belongs_to_the_next_day() -> None:
    t = timing(EVERY_DAY, time(0, 30), lead_minutes=90)  # posted 23:00 the day before
    now = london(2026, 1, 5, 23, 10)
    found = due_post(t, now, date(2026, 1, 5))
    assert found is not None
    assert found.local_date == date(2026, 1, 6)
    assert found.post_at == london(2026, 1, 5, 23, 0)


def test_a_long_late_limit_gives_the_latest_missed_prompt() -> None:
    t = timing(EVERY_DAY, time(9, 0))
    found = due_post(t, london(2026, 1, 7, 12, 0), None, late_limit=timedelta(days=3))
    assert found is not None
    assert found.local_date == date(2026, 1, 7)
    with pytest.raises(ValueError, match="negative"):
        due_post(t, london(2026, 1, 7, 12, 0), None, late_limit=timedelta(minutes=-1))


def test_the_next_to_post_is_late_within_the_limit_and_never_one_already_posted() -> None:
    def found(now: datetime, posted: date | None = None) -> date | None:
        coming = next_to_post(LEAD_30, now, posted)
        return None if coming is None else coming.local_date

    tuesday = date(2026, 1, 6)
    assert found(POST - timedelta(minutes=1)) == MONDAY
    assert found(POST + timedelta(minutes=30)) == MONDAY  # due now, late
    assert found(POST + timedelta(minutes=30, seconds=1)) == tuesday  # missed: dropped
    assert found(POST + timedelta(minutes=5), posted=MONDAY) == tuesday
    assert next_to_post(timing(lead_minutes=30, paused=True), POST, None) is None
    late = next_to_post(LEAD_30, POST + timedelta(minutes=10), None)
    assert late == due_post(LEAD_30, POST + timedelta(minutes=10), None)


# ---- validation and parsing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lead_minutes": 121}, "0 to 120 minutes"),
        ({"lead_minutes": -1}, "0 to 120 minutes"),
        ({"days": frozenset({7})}, "0 (Monday) to 6 (Sunday)"),
        ({"zone": "Mars/Olympus_Mons"}, "I don't know the time zone 'Mars/Olympus_Mons'"),
        ({"at": time(8, 30, tzinfo=UTC)}, "local time"),
    ],
)
def test_unusable_timings_are_refused_in_one_line(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"days": WEEKDAYS, "at": time(8, 30), "zone": "Europe/London"}
    with pytest.raises(ScheduleError, match=re.escape(message)) as caught:
        HuddleTiming(**{**fields, **kwargs})  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon,tue,wed,thu,fri", WEEKDAYS),
        ("weekdays", WEEKDAYS),
        ("Mon-Fri", WEEKDAYS),
        ("daily", EVERY_DAY),
        ("every day", EVERY_DAY),
        ("tue, thu", frozenset({1, 3})),
    ],
)
def test_parse_days(text: str, days: frozenset[int]) -> None:
    assert parse_days(text) == days


def test_parse_days_error_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="couldn't read the day 'funday'"):
        parse_days("mon,funday")


@pytest.mark.parametrize(
    ("text", "at"),
    [("08:30", time(8, 30)), ("8:30", time(8, 30)), (" 23:59 ", time(23, 59)), ("00:00", time(0))],
)
def test_parse_time(text: str, at: time) -> None:
    assert parse_time(text) == at


@pytest.mark.parametrize("text", ["24:00", "8.30", "8:30pm", "0830", "", "08:60", "8", "08:30:00"])
def test_parse_time_refuses_anything_but_24_hour_hh_mm(text: str) -> None:
    with pytest.raises(ScheduleError, match=r"24-hour clock, e\.g\. 08:30") as caught:
        parse_time(text)
    assert "\n" not in str(caught.value)


# ---- properties ----------------------------------------------------------------------------

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
]

# Clock-change days in 2026, local dates in their zone. Santiago changes at midnight.
CHANGES = [
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Australia/Sydney", date(2026, 4, 5)),
    ("Australia/Sydney", date(2026, 10, 4)),
    ("America/Santiago", date(2026, 4, 4)),
    ("America/Santiago", date(2026, 9, 6)),
]


@st.composite
def timings(draw: st.DrawFn, zone: str | None = None) -> HuddleTiming:
    return HuddleTiming(
        days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        at=draw(st.times()),
        zone=zone or draw(st.sampled_from(ZONES)),
        skip_bank_holidays=draw(st.booleans()),
        lead_minutes=draw(st.integers(0, 120)),
        skip_dates=draw(st.frozensets(st.dates(date(2025, 12, 1), date(2028, 3, 1)), max_size=15)),
    )


@st.composite
def around_a_clock_change(draw: st.DrawFn) -> tuple[HuddleTiming, datetime]:
    """Every day, at a time in the small hours or late evening, starting just before a change."""
    zone, day = draw(st.sampled_from(CHANGES))
    at = draw(st.times(max_value=time(3, 59)) | st.times(min_value=time(22)))
    lead = draw(st.integers(0, 120))
    t = HuddleTiming(EVERY_DAY, at, zone, skip_bank_holidays=False, lead_minutes=lead)
    after = datetime.combine(day - timedelta(days=2), time(12), ZoneInfo(zone))
    return t, after


afters = st.datetimes(datetime(2025, 12, 1), datetime(2027, 12, 31), timezones=st.just(UTC))


def _is_huddle_day(t: HuddleTiming, day: date) -> bool:
    if day.weekday() not in t.days or day in t.skip_dates:
        return False
    return not (t.skip_bank_holidays and is_bank_holiday(day))


def _gap(day: date, at: time, zone: ZoneInfo) -> timedelta:
    """The gap a wall-clock time falls in (how far it moves forward), or 0 if it exists."""
    naive = datetime.combine(day, at)
    before = naive.replace(tzinfo=zone, fold=0).utcoffset()
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None
    assert after is not None
    return max(after - before, timedelta(0))


def _check(t: HuddleTiming, after: datetime, found: list[Occurrence]) -> None:
    assert found[0].post_at > after
    for earlier, later in itertools.pairwise(found):
        assert earlier.post_at < later.post_at
        assert earlier.local_date < later.local_date
        missed = earlier.local_date + timedelta(days=1)
        while missed < later.local_date:  # no huddle day is left out in between
            assert not _is_huddle_day(t, missed)
            missed += timedelta(days=1)
    for o in found:
        assert _is_huddle_day(t, o.local_date)
        assert o.post_at == o.huddle_at - timedelta(minutes=t.lead_minutes)
        local = o.huddle_at.astimezone(t.tz)
        assert local.date() == o.local_date
        naive = datetime.combine(o.local_date, t.at)
        gap = _gap(o.local_date, t.at, t.tz)
        assert local.replace(tzinfo=None) == naive + gap  # the wall time, unless in a gap
        if not gap:  # a time the clock shows twice is the first of the two
            both = {naive.replace(tzinfo=t.tz, fold=fold).astimezone(UTC) for fold in (0, 1)}
            assert o.huddle_at == min(both)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timings(), afters)
def test_occurrence_properties(t: HuddleTiming, after: datetime) -> None:
    found = first(t, after, 12)
    assert len(found) == 12
    _check(t, after, found)


@settings(max_examples=100, deadline=None)
@given(around_a_clock_change())
def test_occurrence_properties_across_clock_changes(case: tuple[HuddleTiming, datetime]) -> None:
    t, after = case
    _check(t, after, first(t, after, 5))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timings(), afters, st.integers(5, 29))
def test_a_poller_posts_every_prompt_exactly_once(
    t: HuddleTiming, start: datetime, step_minutes: int
) -> None:
    """Polling due_post more often than the late limit, and recording each post, posts every
    prompt in the polled span once, in order."""
    end = start + timedelta(days=4)
    posted: list[Occurrence] = []
    now, last = start, None
    while now <= end:
        found = due_post(t, now, last)
        if found is not None:
            posted.append(found)
            last = found.local_date
        now += timedelta(minutes=step_minutes)
    assert all(a.local_date < b.local_date for a, b in itertools.pairwise(posted))
    # The first poll may post one prompt late, from up to 30 minutes before `start`.
    late = [o for o in posted if o.post_at <= start]
    assert len(late) <= 1
    assert all(start - o.post_at <= timedelta(minutes=30) for o in late)
    # After that, every prompt whose next poll falls in the span is posted, in order.
    expected = [
        o
        for o in itertools.takewhile(lambda o: o.post_at <= end, occurrences(t, start))
        if o.post_at + timedelta(minutes=step_minutes) <= end
    ]
    assert posted[len(late) :][: len(expected)] == expected
