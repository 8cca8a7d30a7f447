"""When to nudge (rounds.rules.schedule): plans, windows, bank holidays, DST, downtime."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rounds.rules.nudges import NudgeState, is_due, next_nudge_at
from rounds.rules.schedule import (
    MAX_PLAN_ENTRIES,
    NudgeWindow,
    PlanError,
    ReminderPlan,
    is_bank_holiday,
    resolve_zone,
    snooze_until,
)

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A London wall-clock time, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def night_window(days: frozenset[int] = EVERY_DAY) -> NudgeWindow:
    return NudgeWindow(days, time(20), time(6), LONDON, respect_bank_holidays=False)


DEFAULT = NudgeWindow.default(LONDON)

# A February round (GMT throughout, no bank holidays): opens Monday 1 Feb 2027 10:00, closes
# Friday 19 Feb 17:00, plan 3d,7d,last-day → Thu 4 Feb 10:00, Mon 8 Feb 10:00, Fri 19 Feb 09:00.
OPENS = at(2027, 2, 1, 10)
CLOSES = at(2027, 2, 19, 17)
PLAN = ReminderPlan.parse("3d,7d,last-day")
MOMENTS = PLAN.moments(OPENS, CLOSES, LONDON)


def due_at(
    now: datetime,
    state: NudgeState | None = None,
    *,
    window: NudgeWindow = DEFAULT,
    moments: Sequence[datetime] = MOMENTS,
    closes_at: datetime = CLOSES,
) -> datetime | None:
    return next_nudge_at(
        now,
        plan_moments=moments,
        state=state or NudgeState(),
        window=window,
        closes_at=closes_at,
    )


def tick(
    times: Iterable[datetime],
    state: NudgeState,
    *,
    window: NudgeWindow = DEFAULT,
    moments: Sequence[datetime] = MOMENTS,
    closes_at: datetime = CLOSES,
) -> tuple[list[datetime], NudgeState]:
    """The scheduler: at each time, ask twice (a retried or doubled tick), nudge if due."""
    sent: list[datetime] = []
    for now in times:
        for _ in range(2):
            if is_due(now, plan_moments=moments, state=state, window=window, closes_at=closes_at):
                sent.append(now)
                state = state.nudged(now)
    return sent, state


def every(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    now = start
    while now < end:
        yield now
        now += step


# ---- the plan ------------------------------------------------------------------------------


def test_plan_parses_days_weeks_and_last_day() -> None:
    plan = ReminderPlan.parse(" 3d, 1W ,Last Day ")
    assert plan.entries == ("3d", "1w", "last-day")
    assert plan.offset_days == (3, 7)
    assert plan.last_day
    assert str(plan) == "3d,1w,last-day"
    assert ReminderPlan.parse(str(plan)) == plan
    assert plan.count == 3


def test_plan_none_has_no_moments() -> None:
    plan = ReminderPlan.parse("none")
    assert plan.count == 0
    assert str(plan) == "none"
    assert plan.moments(OPENS, CLOSES, LONDON) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The reminder plan is empty"),
        ("   ", "The reminder plan is empty"),
        ("3x", "Reminder '3x' isn't understood"),
        ("3d,soon", "Reminder 'soon' isn't understood"),
        ("-3d", "Reminder '-3d' isn't understood"),
        ("3d 7d", "Reminder '3d 7d' isn't understood"),
        ("3d,,7d", "empty reminder between two commas in '3d,,7d'"),
        ("0d", "Reminder '0d' would be at the opening itself"),
        ("0w", "Reminder '0w' would be at the opening itself"),
        ("400d", "Reminder '400d' is more than a year after opening"),
        ("53w", "Reminder '53w' is more than a year after opening"),
        ("7d,1w", "Reminders '7d' and '1w' are the same day"),
        ("3d,3d", "Reminder '3d' appears twice"),
        ("last-day,3d,last day", "Reminders 'last-day' and 'last day' are the same day"),
        (",".join(f"{n}d" for n in range(1, 12)), "The plan has 11 reminders; at most 10"),
    ],
)
def test_plan_errors_name_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        ReminderPlan.parse(text)


def test_plan_allows_ten_entries_and_a_trailing_comma() -> None:
    ten = ",".join(f"{n}d" for n in range(1, MAX_PLAN_ENTRIES + 1))
    assert ReminderPlan.parse(ten + ",").count == MAX_PLAN_ENTRIES
    assert issubclass(PlanError, ValueError)


# ---- bank holidays: what the holidays package says (0.109) ---------------------------------


def test_bank_holidays_come_from_the_package_with_substitute_days() -> None:
    england = holidays.country_holidays("GB", subdiv="ENG", years=[2026, 2027])
    wales = holidays.country_holidays("GB", subdiv="WLS", years=[2026, 2027])
    assert sorted(england) == sorted(wales)  # England and Wales share their bank holidays
    assert england[date(2026, 12, 28)] == "Boxing Day (observed)"
    assert is_bank_holiday(date(2026, 12, 25))  # Christmas, Friday
    assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day's substitute, Monday
    assert is_bank_holiday(date(2027, 1, 1))  # New Year's Day, Friday
    assert is_bank_holiday(date(2027, 12, 27))  # Christmas Day (Saturday) substitute
    assert is_bank_holiday(date(2027, 12, 28))  # Boxing Day (Sunday) substitute
    # The package lists Boxing Day 2026 on its Saturday; the day off is the Monday instead.
    assert date(2026, 12, 26) in england
    assert not is_bank_holiday(date(2026, 12, 26))
    assert not is_bank_holiday(date(2026, 12, 24))
    assert is_bank_holiday(date(2027, 3, 26))  # Good Friday
    assert is_bank_holiday(date(2027, 3, 29))  # Easter Monday, the day after clocks go forward


# ---- plan moments --------------------------------------------------------------------------


def test_moments_over_christmas_and_new_year() -> None:
    """Opens Thursday 17 Dec 2026 10:00, closes Friday 8 Jan 2027 17:00."""
    opens, closes = at(2026, 12, 17, 10), at(2027, 1, 8, 17)
    assert PLAN.moments(opens, closes, LONDON) == [
        at(2026, 12, 21, 9),  # 3d is Sunday 20 Dec → Monday's window start
        at(2026, 12, 24, 10),  # 7d is Thursday 24 Dec 10:00, a working day, inside the window
        at(2027, 1, 8, 9),  # last-day: the morning of the closing day
    ]


def test_moments_skip_christmas_the_substitute_monday_and_new_year() -> None:
    opens, closes = at(2026, 12, 17, 10), at(2027, 1, 8, 17)
    plan = ReminderPlan.parse("8d,11d,15d")
    assert plan.moments(opens, closes, LONDON) == [
        at(2026, 12, 29, 9),  # Fri 25 Dec and Mon 28 Dec (substitute) both → Tuesday, merged
        at(2027, 1, 4, 9),  # Fri 1 Jan → Monday 4 Jan
    ]


def test_moment_in_the_evening_moves_to_the_next_morning() -> None:
    moments = ReminderPlan.parse("1d").moments(at(2027, 2, 1, 17, 30), CLOSES, LONDON)
    assert moments == [at(2027, 2, 3, 9)]


@pytest.mark.parametrize(
    ("closes", "last_day"),
    [
        (at(2027, 2, 19, 17), at(2027, 2, 19, 9)),  # Friday 17:00 → Friday morning
        (at(2027, 2, 19, 9, 1), at(2027, 2, 19, 9)),  # a minute after the window opens
        (at(2027, 2, 19, 9), at(2027, 2, 18, 9)),  # closes as the window opens → the day before
        (at(2027, 2, 22, 8), at(2027, 2, 19, 9)),  # Monday 08:00 → Friday morning
        (at(2027, 2, 21, 23, 59), at(2027, 2, 19, 9)),  # Sunday → Friday morning
        (at(2027, 2, 20, 0), at(2027, 2, 19, 9)),  # midnight at the end of Friday
    ],
)
def test_last_day_is_the_last_working_morning_before_the_close(
    closes: datetime, last_day: datetime
) -> None:
    assert ReminderPlan.parse("last-day").moments(OPENS, closes, LONDON) == [last_day]


def test_moments_at_or_after_the_close_are_dropped() -> None:
    closes = at(2027, 2, 3, 12)  # Wednesday noon
    assert ReminderPlan.parse("2d,3d,1w").moments(OPENS, closes, LONDON) == [at(2027, 2, 3, 10)]
    # last-day no later than the opening is dropped too: opens Friday 10:00, closes Monday 08:00
    assert ReminderPlan.parse("last-day").moments(at(2027, 2, 5, 10), at(2027, 2, 8, 8)) == []


def test_coinciding_moments_are_merged() -> None:
    # Closing Monday 8 Feb at noon: 4d is Friday 10:00; 5d (Saturday) and 6d (Sunday) both move
    # to Monday 09:00, which is also last-day's moment: one moment for the three.
    moments = ReminderPlan.parse("4d,last-day,5d,6d").moments(OPENS, at(2027, 2, 8, 12))
    assert moments == [at(2027, 2, 5, 10), at(2027, 2, 8, 9)]


def test_offsets_keep_the_wall_clock_across_daylight_saving() -> None:
    # Opens Tuesday 23 March 2027 10:00 GMT; a week later is 10:00 BST, which is 09:00 UTC.
    moments = ReminderPlan.parse("1w").moments(at(2027, 3, 23, 10), at(2027, 4, 30), LONDON)
    assert moments == [utc(2027, 3, 30, 9)]
    # Autumn: opens Monday 19 October 2026 09:30 BST (08:30 UTC); a week later is 09:30 GMT.
    moments = ReminderPlan.parse("1w").moments(at(2026, 10, 19, 9, 30), at(2026, 11, 30))
    assert moments == [utc(2026, 10, 26, 9, 30)]


def test_easter_weekend_and_the_clock_change_together() -> None:
    """Good Friday 26 Mar 2027, clocks forward Sunday 28th, Easter Monday 29th: Tuesday 09:00
    BST is the next working morning, which is 08:00 UTC."""
    moments = ReminderPlan.parse("1d,4d").moments(at(2027, 3, 25, 10), at(2027, 4, 30), LONDON)
    assert moments == [utc(2027, 3, 30, 8)]


def test_moments_in_another_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    opens = datetime(2027, 2, 1, 10, tzinfo=new_york)
    moments = ReminderPlan.parse("3d").moments(opens, opens + timedelta(days=14), new_york)
    assert moments == [datetime(2027, 2, 4, 10, tzinfo=new_york).astimezone(UTC)]


def test_moments_need_aware_times_and_a_close_after_the_opening() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAN.moments(datetime(2027, 2, 1, 10), CLOSES, LONDON)
    with pytest.raises(ValueError, match="close after it opens"):
        PLAN.moments(CLOSES, OPENS, LONDON)


# ---- windows -------------------------------------------------------------------------------


def test_default_window() -> None:
    assert DEFAULT.contains(at(2027, 2, 1, 9))
    assert DEFAULT.contains(at(2027, 2, 1, 16, 59))
    assert not DEFAULT.contains(at(2027, 2, 1, 17))  # the end is not in the window
    assert not DEFAULT.contains(at(2027, 2, 1, 8, 59))
    assert not DEFAULT.contains(at(2027, 2, 6, 12))  # Saturday
    assert not DEFAULT.contains(at(2026, 12, 28, 12))  # Boxing Day substitute
    assert DEFAULT.is_open_day(date(2026, 12, 24))
    assert not DEFAULT.is_open_day(date(2026, 12, 25))
    assert DEFAULT.next_start(at(2027, 2, 1, 9)) == at(2027, 2, 1, 9)  # at or after
    assert DEFAULT.next_start(at(2027, 2, 1, 9, 1)) == at(2027, 2, 2, 9)
    assert DEFAULT.next_start(at(2027, 2, 5, 17)) == at(2027, 2, 8, 9)
    assert DEFAULT.next_start(at(2026, 12, 24, 17)) == at(2026, 12, 29, 9)


def test_a_weekend_window_ignores_bank_holidays_when_told_to() -> None:
    shifts = NudgeWindow(EVERY_DAY, time(9), time(17), LONDON, respect_bank_holidays=False)
    assert shifts.is_open_day(date(2026, 12, 25))
    assert shifts.contains(at(2026, 12, 25, 12))


def test_window_follows_daylight_saving() -> None:
    """09:00 every day around 28 March 2027, when the clocks go forward."""
    window = NudgeWindow(EVERY_DAY, time(9), time(17), LONDON, respect_bank_holidays=False)
    assert window.next_start(utc(2027, 3, 27, 0)) == utc(2027, 3, 27, 9)  # GMT
    assert window.next_start(utc(2027, 3, 28, 0)) == utc(2027, 3, 28, 8)  # BST
    assert window.next_start(utc(2027, 3, 28, 12)) == utc(2027, 3, 29, 8)
    assert window.contains(utc(2027, 3, 29, 8))
    assert not window.contains(utc(2027, 3, 29, 7, 59))
    # The default window: Easter Monday is a bank holiday, so the day after is Tuesday.
    assert DEFAULT.next_start(utc(2027, 3, 28, 12)) == utc(2027, 3, 30, 8)
    # And back in October: 09:00 GMT is 09:00 UTC.
    assert DEFAULT.next_start(utc(2026, 10, 24, 12)) == utc(2026, 10, 26, 9)


def test_night_window_crosses_midnight() -> None:
    window = night_window()
    assert window.crosses_midnight
    assert window.contains(at(2027, 2, 2, 2))
    occurrence = window.occurrence_at(at(2027, 2, 2, 2))
    assert occurrence is not None
    assert occurrence.day == date(2027, 2, 1)  # Monday's shift
    assert not window.contains(at(2027, 2, 2, 6))
    assert not window.contains(at(2027, 2, 2, 19, 59))
    assert window.contains(at(2027, 2, 2, 20))
    assert window.next_start(at(2027, 2, 2, 2)) == at(2027, 2, 2, 20)


def test_night_window_belongs_to_the_day_it_opens() -> None:
    fridays = night_window(frozenset({4}))
    assert fridays.contains(at(2027, 2, 6, 3))  # Saturday 03:00 is Friday night's
    assert not fridays.contains(at(2027, 2, 5, 3))  # Friday 03:00 is Thursday night's


def test_night_window_across_the_clock_change_is_an_hour_shorter() -> None:
    occurrence = night_window().occurrence(date(2027, 3, 27))
    assert occurrence is not None
    assert occurrence.start == utc(2027, 3, 27, 20)  # 20:00 GMT
    assert occurrence.end == utc(2027, 3, 28, 5)  # 06:00 BST
    assert occurrence.end - occurrence.start == timedelta(hours=9)


def test_a_window_inside_the_skipped_hour_does_not_open_that_day() -> None:
    window = NudgeWindow(EVERY_DAY, time(1), time(2), LONDON, respect_bank_holidays=False)
    assert window.occurrence(date(2027, 3, 28)) is None
    assert window.next_start(utc(2027, 3, 27, 12)) == utc(2027, 3, 29, 0)  # 01:00 BST


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (frozenset(), time(9), time(17), "at least one day"),
        (frozenset({7}), time(9), time(17), "0 \\(Monday\\) to 6"),
        (WEEKDAYS, time(9), time(9), "same time"),
        (WEEKDAYS, time(9, tzinfo=UTC), time(17), "without tzinfo"),
    ],
)
def test_window_rejects_nonsense(
    days: frozenset[int], start: time, end: time, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NudgeWindow(days, start, end, LONDON)


def test_resolve_zone_prefers_teams_then_the_organisation_then_london() -> None:
    assert resolve_zone("America/New_York", "Europe/Dublin") == ZoneInfo("America/New_York")
    assert resolve_zone("Not/AZone", "Europe/Dublin") == ZoneInfo("Europe/Dublin")
    assert resolve_zone(None, None) == LONDON
    assert resolve_zone("", "../etc/passwd") == LONDON


# ---- snooze --------------------------------------------------------------------------------


def test_snooze_on_friday_afternoon_is_monday_morning() -> None:
    assert snooze_until(at(2027, 5, 21, 15), DEFAULT) == at(2027, 5, 24, 9)


def test_snooze_before_a_bank_holiday_monday_is_tuesday_morning() -> None:
    # Monday 31 May 2027 is the Spring Bank Holiday.
    assert snooze_until(at(2027, 5, 28, 15), DEFAULT) == at(2027, 6, 1, 9)
    assert snooze_until(at(2026, 12, 24, 15), DEFAULT) == at(2026, 12, 29, 9)


def test_snooze_is_never_later_today() -> None:
    assert snooze_until(at(2027, 2, 5, 8), DEFAULT) == at(2027, 2, 8, 9)  # Friday 08:00
    assert snooze_until(at(2027, 2, 6, 12), DEFAULT) == at(2027, 2, 8, 9)  # Saturday


def test_night_worker_snoozing_after_midnight_is_reminded_next_shift_day() -> None:
    assert snooze_until(at(2027, 2, 2, 2), night_window()) == at(2027, 2, 3, 20)


def test_snooze_brings_a_reminder_even_with_no_plan_moment_pending() -> None:
    state = NudgeState().nudged(MOMENTS[0])  # Thursday 4 Feb 10:00
    assert due_at(at(2027, 2, 4, 11), state) == MOMENTS[1]  # next plan moment: Monday
    state = state.snoozed(at(2027, 2, 4, 11), DEFAULT)
    assert state.snoozed_until == at(2027, 2, 5, 9)
    assert due_at(at(2027, 2, 4, 11), state) == at(2027, 2, 5, 9)
    sent, state = tick(every(at(2027, 2, 4, 11), at(2027, 2, 9), timedelta(minutes=5)), state)
    assert sent == [at(2027, 2, 5, 9), MOMENTS[1]]
    assert not state.snooze_pending


def test_snooze_postpones_a_plan_moment_before_it() -> None:
    state = NudgeState(snoozed_until=at(2027, 2, 5, 9))
    assert due_at(at(2027, 2, 4, 10), state) == at(2027, 2, 5, 9)
    sent, state = tick(every(at(2027, 2, 4), at(2027, 2, 8), timedelta(minutes=15)), state)
    assert sent == [at(2027, 2, 5, 9)]  # covers Thursday's moment too


# ---- who is nudged, and when ---------------------------------------------------------------


def test_first_nudge_is_the_first_plan_moment() -> None:
    expected = [at(2027, 2, 4, 10), at(2027, 2, 8, 10), at(2027, 2, 19, 9)]
    assert PLAN.moments(OPENS, CLOSES, LONDON) == expected
    assert due_at(OPENS) == at(2027, 2, 4, 10)
    assert not is_due(
        at(2027, 2, 4, 9, 59),
        plan_moments=MOMENTS,
        state=NudgeState(),
        window=DEFAULT,
        closes_at=CLOSES,
    )


def test_whole_round_sends_the_plan_and_nothing_more() -> None:
    sent, state = tick(
        every(OPENS, CLOSES + timedelta(days=2), timedelta(minutes=15)), NudgeState()
    )
    assert sent == MOMENTS
    assert state.nudges_sent == 3
    assert due_at(CLOSES - timedelta(minutes=1), state) is None


def test_idempotent_at_the_same_now() -> None:
    now = MOMENTS[0]
    assert due_at(now) == now
    state = NudgeState().nudged(now)
    assert due_at(now, state) == MOMENTS[1]
    assert not is_due(now, plan_moments=MOMENTS, state=state, window=DEFAULT, closes_at=CLOSES)


@pytest.mark.parametrize(
    "state",
    [NudgeState(submitted=True), NudgeState(opted_out=True), NudgeState(nudges_sent=6)],
    ids=["submitted", "opted out", "ceiling reached"],
)
def test_no_nudges_for(state: NudgeState) -> None:
    assert due_at(OPENS, state) is None
    assert due_at(MOMENTS[0], state) is None


def test_a_closed_round_sends_nothing() -> None:
    assert due_at(CLOSES) is None
    assert due_at(CLOSES + timedelta(days=1)) is None
    # Still open at 16:59 on the last day, last-day moment pending, inside the window:
    state = NudgeState().nudged(MOMENTS[0]).nudged(MOMENTS[1])
    assert due_at(CLOSES - timedelta(minutes=1), state) == CLOSES - timedelta(minutes=1)


def test_personal_window_decides_when_a_moment_is_sent() -> None:
    assert due_at(OPENS, window=night_window()) == at(2027, 2, 4, 20)
    early = NudgeWindow(WEEKDAYS, time(7), time(8), LONDON)
    assert due_at(OPENS, window=early) == at(2027, 2, 5, 7)


def test_away_until_is_inclusive() -> None:
    assert due_at(OPENS, NudgeState(away_until=date(2027, 2, 4))) == at(2027, 2, 5, 9)
    # Away to Friday: Thursday's missed moment is sent as Monday's window opens; Monday's own
    # moment (10:00) comes after that, and so goes the next day.
    sent, _ = tick(
        every(OPENS, at(2027, 2, 12), timedelta(minutes=15)),
        NudgeState(away_until=date(2027, 2, 5)),
    )
    assert sent == [at(2027, 2, 8, 9), at(2027, 2, 9, 9)]
    # Away to Monday: both moments have passed by Tuesday morning, and collapse into one nudge.
    sent, _ = tick(
        every(OPENS, at(2027, 2, 12), timedelta(minutes=15)),
        NudgeState(away_until=date(2027, 2, 8)),
    )
    assert sent == [at(2027, 2, 9, 9)]
    assert due_at(OPENS, NudgeState(away_until=date(2027, 2, 19))) is None


def test_away_night_worker_skips_the_shift_that_opens_on_the_last_day_away() -> None:
    state = NudgeState(away_until=date(2027, 2, 4))
    assert due_at(OPENS, state, window=night_window()) == at(2027, 2, 5, 20)


def test_never_two_nudges_on_the_same_local_day() -> None:
    moments = [at(2027, 2, 2, 9), at(2027, 2, 2, 15)]
    sent, _ = tick(
        every(OPENS, at(2027, 2, 5), timedelta(minutes=1)), NudgeState(), moments=moments
    )
    assert sent == [at(2027, 2, 2, 9), at(2027, 2, 3, 9)]


def test_night_worker_gets_one_nudge_per_shift_and_per_local_day() -> None:
    window = night_window()
    # Nudged at 20:00 Monday; the next moment, 02:00 Tuesday, is the same shift → Tuesday 20:00.
    moments = [at(2027, 2, 1, 20), at(2027, 2, 2, 2)]
    sent, _ = tick(
        every(OPENS, at(2027, 2, 5), timedelta(minutes=1)),
        NudgeState(),
        window=window,
        moments=moments,
    )
    assert sent == [at(2027, 2, 1, 20), at(2027, 2, 2, 20)]
    # Nudged at 01:00 Tuesday (Monday's shift); the next may not be on Tuesday at all, so it
    # is Wednesday 00:00, inside Tuesday's shift.
    moments = [at(2027, 2, 2, 1), at(2027, 2, 2, 3)]
    sent, _ = tick(
        every(OPENS, at(2027, 2, 5), timedelta(minutes=1)),
        NudgeState(),
        window=window,
        moments=moments,
    )
    assert sent == [at(2027, 2, 2, 1), at(2027, 2, 3, 0)]


# ---- downtime ------------------------------------------------------------------------------


def test_back_inside_the_window_after_missing_three_moments_sends_one_nudge() -> None:
    moments = ReminderPlan.parse("1d,2d,3d").moments(OPENS, CLOSES, LONDON)
    assert len(moments) == 3
    back = at(2027, 2, 5, 11)  # Friday 11:00: Tue, Wed and Thu 10:00 were missed
    sent, state = tick(
        every(back, at(2027, 2, 9), timedelta(minutes=1)), NudgeState(), moments=moments
    )
    assert sent == [back]
    assert state.nudges_sent == 1


def test_back_outside_the_window_waits_for_the_next_window_start() -> None:
    back = at(2027, 2, 9, 18, 30)  # Tuesday evening; Thursday's and Monday's moments missed
    assert due_at(back) == at(2027, 2, 10, 9)
    sent, _ = tick(every(back, CLOSES, timedelta(minutes=10)), NudgeState())
    assert sent == [at(2027, 2, 10, 9), MOMENTS[2]]


def test_back_after_the_close_sends_nothing() -> None:
    sent, _ = tick(every(CLOSES, CLOSES + timedelta(days=3), timedelta(minutes=5)), NudgeState())
    assert sent == []


def test_back_outside_the_window_with_the_next_start_after_the_close_sends_nothing() -> None:
    closes = at(2027, 2, 19, 8)  # Friday 08:00, before the window opens
    assert due_at(at(2027, 2, 18, 17, 30), closes_at=closes) is None
    # Closing at noon instead: Friday 09:00 is still useful.
    assert due_at(at(2027, 2, 18, 17, 30), closes_at=at(2027, 2, 19, 12)) == at(2027, 2, 19, 9)


def test_requires_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2027, 2, 4, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        NudgeState().nudged(datetime(2027, 2, 4, 10))


# ---- properties ----------------------------------------------------------------------------

ZONES = [
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Havana",  # clocks change at midnight
    "Pacific/Chatham",
]
BASE = utc(2026, 1, 1)
SPAN_MINUTES = 3 * 365 * 24 * 60


@st.composite
def windows(draw: st.DrawFn) -> NudgeWindow:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(0, 24 * 60 - 1).filter(lambda m: m != start))
    return NudgeWindow(
        days,
        time(start // 60, start % 60),
        time(end // 60, end % 60),
        ZoneInfo(draw(st.sampled_from(ZONES))),
        draw(st.booleans()),
    )


def moments_near(now: datetime) -> st.SearchStrategy[list[datetime]]:
    return st.lists(
        st.integers(-30 * 24 * 60, 30 * 24 * 60).map(lambda m: now + timedelta(minutes=m)),
        max_size=10,
    )


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[datetime, list[datetime], NudgeState, NudgeWindow, datetime]:
    now = BASE + timedelta(minutes=draw(st.integers(0, SPAN_MINUTES)))
    moments = draw(moments_near(now))
    closes = now + timedelta(minutes=draw(st.integers(-60, 40 * 24 * 60)))
    minutes_ago = st.integers(0, 20 * 24 * 60).map(lambda m: now - timedelta(minutes=m))
    last = draw(st.none() | minutes_ago)
    snoozed = draw(st.none() | moments_near(now).map(lambda ms: ms[0] if ms else None))
    away = draw(st.none() | st.integers(-5, 20).map(lambda d: now.date() + timedelta(days=d)))
    state = NudgeState(
        nudges_sent=draw(st.integers(0, 4)) if last else 0,
        last_nudged_at=last,
        snoozed_until=snoozed,
        opted_out=False,
        submitted=False,
        away_until=away,
    )
    return now, moments, state, draw(windows()), closes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_next_nudge_is_inside_the_window_before_the_close_and_not_before_now(
    situation: tuple[datetime, list[datetime], NudgeState, NudgeWindow, datetime],
) -> None:
    now, moments, state, window, closes = situation
    due = next_nudge_at(now, plan_moments=moments, state=state, window=window, closes_at=closes)
    if due is None:
        return
    assert now <= due < closes
    occurrence = window.occurrence_at(due)
    assert occurrence is not None
    assert window.contains(due)
    if state.away_until is not None:
        assert occurrence.day > state.away_until
        assert window.local_date(due) > state.away_until
    if state.last_nudged_at is not None:
        assert window.local_date(due) > window.local_date(state.last_nudged_at)
        assert state.last_nudged_at not in occurrence
    if state.snooze_pending:
        assert state.snoozed_until is not None
        assert due >= state.snoozed_until
    else:
        assert any(
            m <= due and (state.last_nudged_at is None or m > state.last_nudged_at) for m in moments
        )
    # Recording the nudge makes it not due again at the same moment.
    after = state.nudged(due)
    assert not is_due(due, plan_moments=moments, state=after, window=window, closes_at=closes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=windows(),
    start=st.integers(0, SPAN_MINUTES),
    plan=st.lists(st.integers(1, 20), min_size=1, max_size=6, unique=True),
    gaps=st.lists(st.integers(1, 36 * 60), min_size=1, max_size=60),
)
def test_ticking_at_any_times_never_bursts(
    window: NudgeWindow, start: int, plan: list[int], gaps: list[int]
) -> None:
    opens = BASE + timedelta(minutes=start)
    closes = opens + timedelta(days=21)
    moments = ReminderPlan.parse(",".join(f"{d}d" for d in plan)).moments(opens, closes, LONDON)
    now, times = opens, []
    for gap in gaps:  # a scheduler that runs irregularly, with long outages
        now += timedelta(minutes=gap)
        times.append(now)
    sent, state = tick(times, NudgeState(), window=window, moments=moments, closes_at=closes)
    assert len(sent) <= len(moments)
    assert state.nudges_sent == len(sent)
    days = [window.local_date(moment) for moment in sent]
    assert len(days) == len(set(days))
    for moment in sent:
        assert window.contains(moment)
        assert moment < closes
        assert moment >= moments[0]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=windows(),
    start=st.integers(0, SPAN_MINUTES),
    plan=st.lists(st.integers(1, 40), max_size=5, unique=True),
    last_day=st.booleans(),
    length=st.integers(60, 30 * 24 * 60),
    longer=st.integers(1, 30 * 24 * 60),
    into=st.integers(0, 30 * 24 * 60),
    state=st.builds(
        lambda sent, last, snoozed, away: (sent, last, snoozed, away),
        st.integers(0, 4),
        st.none() | st.integers(0, 20 * 24 * 60),
        st.none() | st.integers(-10 * 24 * 60, 30 * 24 * 60),
        st.none() | st.integers(-5, 20),
    ),
)
def test_a_later_close_never_brings_a_nudge_time_forward(
    window: NudgeWindow,
    start: int,
    plan: list[int],
    last_day: bool,
    length: int,
    longer: int,
    into: int,
    state: tuple[int, int | None, int | None, int | None],
) -> None:
    """Why an extension only marks the round, and the tick then looks again only at people
    without a nudge time (store.rounds.steps.look_again_at_people_without_a_time): for anyone
    with a next nudge time, the longer round's is the same or later (or none), so a stored time
    is at worst early, and the tick recomputes it when it comes. Only people with no time left
    can gain an earlier one."""
    opens = BASE + timedelta(minutes=start)
    closes = opens + timedelta(minutes=length)
    later = closes + timedelta(minutes=longer)
    now = opens + timedelta(minutes=into % length)
    sent, ago, snoozed, away = state
    nudge_state = NudgeState(
        nudges_sent=sent if ago is not None else 0,
        last_nudged_at=None if ago is None else now - timedelta(minutes=ago),
        snoozed_until=None if snoozed is None else now + timedelta(minutes=snoozed),
        away_until=None if away is None else now.date() + timedelta(days=away),
    )
    entries = [f"{days}d" for days in plan] + (["last-day"] if last_day else [])
    reminder_plan = ReminderPlan.parse(",".join(entries) or "none")

    def due(close: datetime) -> datetime | None:
        moments = reminder_plan.moments(opens, close, window.zone)
        return next_nudge_at(
            now, plan_moments=moments, state=nudge_state, window=window, closes_at=close
        )

    before = due(closes)
    after = due(later)
    event(f"before: {'none' if before is None else 'a time'}")
    event(f"after: {'none' if after is None else 'a time'}")
    if before is not None and after is not None:
        assert after >= before
