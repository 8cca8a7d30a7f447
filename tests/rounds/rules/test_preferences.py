"""What people say about when to be nudged (rounds.rules.preferences): chat, card, words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rounds.rules.nudges import NudgeState, next_nudge_at
from rounds.rules.preferences import (
    NudgePreferences,
    ShowPreferences,
    UpdatePreferences,
    describe,
    is_preferences_command,
    parse_command,
    preferences_from_form,
)
from rounds.rules.schedule import WORKING_DAYS
from rounds.rules.written import (
    EVERY_DAY,
    WEEKENDS,
    PreferencesError,
    describe_days,
    format_days,
    parse_days,
)

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 20)  # a Sunday
DEFAULT = NudgePreferences()
AWAY = NudgePreferences(away_until=date(2026, 12, 24))
LONDON = ZoneInfo("Europe/London")


def update(
    text: str, *, current: NudgePreferences = DEFAULT, today: date = TODAY
) -> NudgePreferences:
    command = parse_command(text, current=current, today=today)
    assert isinstance(command, UpdatePreferences), command
    return command.preferences


def refused(text: str, *, current: NudgePreferences = DEFAULT, today: date = TODAY) -> str:
    with pytest.raises(PreferencesError) as caught:
        parse_command(text, current=current, today=today)
    return str(caught.value)


# ---- the chat commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["reminders", "Reminders", " reminders  ", "reminder", "reminders show"]
)
def test_reminders_alone_shows_the_current_settings(text: str) -> None:
    assert parse_command(text, current=AWAY, today=TODAY) == ShowPreferences()


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("reminders weekdays 9-17", WORKING_DAYS, time(9), time(17)),
        ("reminders mon,wed,sat 07:30-19:00", frozenset({0, 2, 5}), time(7, 30), time(19)),
        ("reminders every day 20:00-06:00", EVERY_DAY, time(20), time(6)),
        ("reminders weekends 10:00-16:00", WEEKENDS, time(10), time(16)),
        ("Reminders Mon, Wed & Sat 7.30–19.00", frozenset({0, 2, 5}), time(7, 30), time(19)),
        ("reminders monday to thursday 8am-4pm", frozenset({0, 1, 2, 3}), time(8), time(16)),
        ("reminders fri-mon 22:00-06:00", frozenset({4, 5, 6, 0}), time(22), time(6)),
        ("reminders mondays and fridays from 8 to 12", frozenset({0, 4}), time(8), time(12)),
        ("reminders daily 9AM-5PM", EVERY_DAY, time(9), time(17)),
        ("reminders everyday 9pm-7am", EVERY_DAY, time(21), time(7)),
        ("reminders week days 9-5pm", WORKING_DAYS, time(9), time(17)),
        ("reminders tues thurs 10-11pm", frozenset({1, 3}), time(22), time(23)),
        ("reminders weekdays 9am-5", WORKING_DAYS, time(9), time(17)),
        ("reminders every day 20-24", EVERY_DAY, time(20), time(0)),
        ("reminders 9-17 weekends", WEEKENDS, time(9), time(17)),
        ("reminders weekdays 09:00-05:00", WORKING_DAYS, time(9), time(5)),
    ],
)
def test_days_and_hours(text: str, days: frozenset[int], start: time, end: time) -> None:
    prefs = update(text, current=AWAY)
    assert (prefs.days, prefs.start, prefs.end) == (days, start, end)
    assert prefs.away_until == AWAY.away_until  # untouched


def test_days_or_hours_alone_keep_the_other() -> None:
    current = NudgePreferences(frozenset({5, 6}), time(10), time(16))
    assert update("reminders 8-18", current=current) == NudgePreferences(
        frozenset({5, 6}), time(8), time(18)
    )
    assert update("reminders weekdays", current=current) == NudgePreferences(
        WORKING_DAYS, time(10), time(16)
    )


def test_default_resets_days_and_hours_but_not_away() -> None:
    current = NudgePreferences(EVERY_DAY, time(20), time(6), date(2026, 12, 24))
    assert update("reminders default", current=current) == NudgePreferences(
        away_until=date(2026, 12, 24)
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reminders 25-3", "I couldn't read the hours '25-3'; try 09:00-17:00."),
        ("reminders weekdays 9:75-17", "I couldn't read the hours '9:75-17'; try 09:00-17:00."),
        ("reminders weekdays 13pm-5pm", "I couldn't read the hours '13pm-5pm'"),
        ("reminders 24-6", "I couldn't read the hours '24-6'"),
        ("reminders 9 17", "I couldn't read the hours '9 17'"),
        ("reminders 9-5", "Did you mean 09:00 to 05:00 overnight, or 09:00 to 17:00?"),
        ("reminders 12-8", "Did you mean 12:00 to 08:00 overnight, or 12:00 to 20:00?"),
        ("reminders 8-6am", "I couldn't tell which hours '8-6am' means"),
        ("reminders 9-9", "The hours '9-9' start and end at the same time"),
        ("reminders 0-24", "The hours '0-24' start and end at the same time"),
        ("reminders blursday 9-17", "I couldn't read the day 'blursday'; try weekdays"),
        ("reminders Mon,Funday", "I couldn't read the day 'Funday'"),
        ("reminders off", "choose 'Stop reminding me'"),
    ],
)
def test_nonsense_gets_a_clear_message(text: str, message: str) -> None:
    assert message in refused(text)


# ---- away ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "away_until"),
    [
        ("away until 24 Dec", date(2026, 12, 24)),
        ("away until 2026-12-24", date(2026, 12, 24)),
        ("Away until 24th December.", date(2026, 12, 24)),
        ("away till December 24", date(2026, 12, 24)),
        ("reminders away until 24/12/2026", date(2026, 12, 24)),
        ("away until Thursday 24 December", date(2026, 12, 24)),
        ("I'm away until 3 Jan", date(2027, 1, 3)),  # already past this year → next year's
        ("on leave until 3rd January 2027", date(2027, 1, 3)),
        ("on annual leave until 24/12", date(2026, 12, 24)),
        ("away until today", TODAY),
        ("away until tomorrow", date(2026, 12, 21)),
        ("away until friday", date(2026, 12, 25)),
        ("back on 2 January", date(2027, 1, 1)),  # back on D = away until the day before
        ("I'll be back on 21 Dec", date(2026, 12, 20)),
        ("back on tomorrow", TODAY),
    ],
)
def test_away_until(text: str, away_until: date) -> None:
    assert update(text).away_until == away_until


@pytest.mark.parametrize("text", ["not away", "Not away.", "I'm back", "reminders not away"])
def test_not_away_clears_it(text: str) -> None:
    assert update(text, current=AWAY) == DEFAULT


def test_back_today_means_not_away() -> None:
    assert update("back on 20 December", current=AWAY).away_until is None
    assert update("back on today", current=AWAY).away_until is None


def test_dates_without_a_year_are_never_in_the_past() -> None:
    assert update("away until 24 Dec", today=date(2026, 12, 24)).away_until == date(2026, 12, 24)
    assert update("away until 24 Dec", today=date(2026, 12, 25)).away_until == date(2027, 12, 24)
    assert update("away until 29 Feb", today=date(2026, 3, 1)).away_until == date(2028, 2, 29)


def test_a_weekday_name_is_the_next_one_after_today() -> None:
    friday = date(2026, 12, 25)
    assert update("away until friday", today=friday).away_until == date(2027, 1, 1)
    assert update("away until mon", today=friday).away_until == date(2026, 12, 28)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("away until 31 Feb", "I couldn't read the date '31 Feb'; try 24 December or 2026-12-24."),
        ("away until soon", "I couldn't read the date 'soon'"),
        ("away until 2026-13-01", "I couldn't read the date '2026-13-01'"),
        ("away until 2020-01-01", "Wednesday 1 January 2020 has already passed"),
        ("away until 19/12/2026", "Saturday 19 December 2026 has already passed"),
        ("away until Friday 24 December", "24 December 2026 is a Thursday, not a Friday"),
        ("away until 2030-01-01", "more than two years away"),
    ],
)
def test_bad_dates_get_a_clear_message(text: str, message: str) -> None:
    assert message in refused(text)


# ---- which messages are ours ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "reminders",
        "Reminders weekdays 9-17",
        "away until 24 Dec",
        "On leave until 2 January",
        "back on 2 January",
        "not away",
        "I’m back",
    ],
)
def test_is_preferences_command(text: str) -> None:
    assert is_preferences_command(text)


@pytest.mark.parametrize("text", ["back", "help", "remind me later", "start", "awayday", "away"])
def test_other_messages_are_not(text: str) -> None:
    assert not is_preferences_command(text)


# ---- the card form -------------------------------------------------------------------------


def test_form_with_a_day_list_and_times() -> None:
    prefs = preferences_from_form(["mon", "wed", "sat"], "07:30", "19:00", current=AWAY)
    assert prefs == NudgePreferences(frozenset({0, 2, 5}), time(7, 30), time(19), AWAY.away_until)


@pytest.mark.parametrize(
    "days",
    [["Monday", "Friday"], "mon,fri", "mon, fri", [0, 4], ["mon", 4]],
)
def test_form_day_shapes(days: str | Sequence[str | int]) -> None:
    assert preferences_from_form(days, "20:00", "06:00").days == frozenset({0, 4})


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        ([], "09:00", "17:00", "Choose at least one day"),
        ("", "09:00", "17:00", "Choose at least one day"),
        (["mon"], "", "17:00", "Choose a start and an end time"),
        (["mon"], "25:00", "17:00", "I couldn't read the hours '25:00-17:00'"),
        (["mon"], "09:00", "09:00", "can't start and end at the same time (09:00)"),
        (["blursday"], "09:00", "17:00", "I couldn't read the day 'blursday'"),
        (["0"], "09:00", "17:00", "I couldn't read the day '0'"),
        ([7], "09:00", "17:00", "I couldn't read the day '7'"),
        ([True], "09:00", "17:00", "I couldn't read the day 'True'"),
    ],
)
def test_form_errors(days: str | Sequence[str | int], start: str, end: str, message: str) -> None:
    with pytest.raises(PreferencesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preferences_from_form(days, start, end)


def test_form_times_read_as_the_24_hour_clock() -> None:
    # A card's time picker sends 24-hour times; "09:00"-"05:00" there means overnight.
    prefs = preferences_from_form(["mon"], "9:00", "5:00")
    assert (prefs.start, prefs.end) == (time(9), time(5))


# ---- the model, storage and windows --------------------------------------------------------


def test_preferences_reject_nonsense() -> None:
    with pytest.raises(PreferencesError, match="at least one day"):
        NudgePreferences(days=frozenset())
    with pytest.raises(PreferencesError, match="same time"):
        NudgePreferences(start=time(9), end=time(9))


def test_storage_round_trip() -> None:
    prefs = NudgePreferences(frozenset({0, 2, 5}), time(7, 30), time(19), date(2026, 12, 24))
    row = prefs.to_row()
    assert row == ("mon,wed,sat", 450, 1140, date(2026, 12, 24))
    assert NudgePreferences.from_row(*row) == prefs
    assert NudgePreferences.from_row("mon,tue,wed,thu,fri", 540, 1020, None) == DEFAULT


def test_bank_holidays_apply_to_weekday_only_choices() -> None:
    assert DEFAULT.window(LONDON).respect_bank_holidays
    assert NudgePreferences(frozenset({0, 2})).window(LONDON).respect_bank_holidays
    assert not NudgePreferences(frozenset({0, 5})).window(LONDON).respect_bank_holidays
    assert (
        not NudgePreferences(EVERY_DAY, time(20), time(6))
        .window("Europe/London")
        .respect_bank_holidays
    )


def test_a_shift_worker_is_nudged_on_christmas_day_and_an_office_worker_is_not() -> None:
    christmas_morning = datetime(2026, 12, 25, 8, tzinfo=UTC)
    moments = [christmas_morning]
    closes = datetime(2027, 1, 8, 17, tzinfo=UTC)

    def first_nudge(prefs: NudgePreferences) -> datetime | None:
        return next_nudge_at(
            christmas_morning,
            plan_moments=moments,
            state=NudgeState(),
            window=prefs.window(LONDON),
            closes_at=closes,
        )

    assert first_nudge(update("reminders every day 07:00-19:00")) == christmas_morning
    assert first_nudge(update("reminders weekdays 07:00-19:00")) == datetime(
        2026, 12, 29, 7, tzinfo=UTC
    )


# ---- describing ----------------------------------------------------------------------------


def test_describe_for_the_confirmation_card() -> None:
    assert describe(AWAY, "Europe/London", today=TODAY) == (
        "Mondays to Fridays except bank holidays, 09:00–17:00 (Europe/London); "
        "away until Thursday 24 December"
    )
    assert describe(DEFAULT, LONDON) == (
        "Mondays to Fridays except bank holidays, 09:00–17:00 (Europe/London)"
    )
    night = NudgePreferences(EVERY_DAY, time(20), time(6))
    assert describe(night, "Europe/Dublin") == "Every day, 20:00–06:00 overnight (Europe/Dublin)"


def test_describe_away_dates_relative_to_today() -> None:
    next_year = NudgePreferences(away_until=date(2027, 1, 1))
    assert describe(next_year, today=TODAY).endswith("; away until Friday 1 January 2027")
    assert describe(next_year).endswith("; away until Friday 1 January")
    assert ";" not in describe(next_year, today=date(2027, 1, 2))  # past: left out


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (WORKING_DAYS, "Mondays to Fridays"),
        (WEEKENDS, "Saturdays and Sundays"),
        (EVERY_DAY, "Every day"),
        (frozenset({0, 2, 5}), "Mondays, Wednesdays and Saturdays"),
        (frozenset({0, 1, 2, 5}), "Mondays to Wednesdays and Saturdays"),
        (frozenset({4, 5, 6, 0}), "Fridays to Mondays"),
        (frozenset({6, 0}), "Sundays and Mondays"),
        (frozenset({3}), "Thursdays"),
    ],
)
def test_describe_days(days: frozenset[int], text: str) -> None:
    assert describe_days(days) == text


# ---- properties ----------------------------------------------------------------------------

day_sets = st.frozensets(st.integers(0, 6), min_size=1)
clock_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@given(days=day_sets, start=clock_times, end=clock_times)
def test_what_describe_and_storage_write_reads_back(
    days: frozenset[int], start: time, end: time
) -> None:
    assume(start != end)
    prefs = NudgePreferences(days, start, end)
    assert parse_days(format_days(days)) == days
    assert NudgePreferences.from_row(*prefs.to_row()) == prefs
    assert preferences_from_form(sorted(days), f"{start:%H:%M}", f"{end:%H:%M}") == prefs
    assert describe(prefs)
    # The chat reads 24-hour HH:MM back, except the few overnight spans that could be 12-hour
    # daytime ones (11:00-10:00), where it asks instead of guessing.
    text = f"reminders {format_days(days)} {start:%H:%M}-{end:%H:%M}"
    if end < start and end.hour >= 10 and start.hour <= 12:
        with pytest.raises(PreferencesError, match="Did you mean"):
            parse_command(text, current=DEFAULT, today=TODAY)
    else:
        assert update(text) == prefs


@given(offset=st.integers(0, 700))
def test_iso_dates_from_today_on_are_read_exactly(offset: int) -> None:
    day = date.fromordinal(TODAY.toordinal() + offset)
    assert update(f"away until {day.isoformat()}").away_until == day
    assert update(f"away until {day.day} {day:%B} {day.year}").away_until == day
