"""What a person says about when to be nudged, read from the chat or a card. Pure, no I/O.

In the chat (the leading `reminders` is optional for the away commands)::

    reminders                         show what is set now
    reminders weekdays 9-17           days and hours (either may be left out to keep the current)
    reminders mon,wed,sat 07:30-19:00
    reminders every day 20:00-06:00   a window may cross midnight (night shifts)
    reminders weekends 10:00-16:00
    reminders default                 back to Mondays to Fridays, 09:00–17:00 (away is kept)
    away until 24 Dec                 annual leave: no nudges up to and including 24 December
    away until 2026-12-24
    back on 2 January                 = away until 1 January
    not away                          clear it

Decisions:

* `away until D` means D is the last day away: no nudges on D, nudges again from the day after.
  "back on D" is the same as "away until the day before D". Dates are read relative to `today`
  and never land in the past: "24 Dec" is this year's if that is today or later, else next
  year's; a date with a year that has passed is refused. A date more than two years ahead is
  refused (a typo, most likely).
* Bank holidays: a person whose days are weekdays only (the default, or e.g. mon,wed) is not
  nudged on England and Wales bank holidays. Someone who includes a Saturday or Sunday works
  shifts; they are nudged on any day they chose, bank holiday or not.
* Hours read as the 24-hour clock ("9-17", "20:00-06:00"), or with am/pm ("9am-5pm"). Bare
  hours that would make an overnight window out of what looks like a 12-hour-clock day ("9-5")
  are refused with a question rather than guessed. "24" or "24:00" may end a window (midnight).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from rounds.rules.schedule import (
    DEFAULT_END,
    DEFAULT_START,
    DEFAULT_ZONE,
    WORKING_DAYS,
    NudgeWindow,
)
from rounds.rules.written import (
    EVERY_DAY,
    WEEKENDS,
    PreferencesError,
    describe_days,
    format_days,
    long_date,
    normalise,
    parse_clock,
    parse_date,
    parse_days,
    parse_hours,
    split_days_and_hours,
    tidy,
)

__all__ = [
    "EVERY_DAY",
    "HELP",
    "WEEKENDS",
    "NudgePreferences",
    "PreferencesCommand",
    "PreferencesError",
    "ShowPreferences",
    "UpdatePreferences",
    "describe",
    "describe_days",
    "format_days",
    "is_preferences_command",
    "parse_command",
    "parse_days",
    "preferences_from_form",
]


HELP = (
    "You can tell me when to remind you, for example: 'reminders weekdays 9-17', "
    "'reminders mon,wed,sat 07:30-19:00', 'reminders every day 20:00-06:00', "
    "'reminders default', 'away until 24 December', 'back on 2 January' or 'not away'."
)


@dataclass(frozen=True)
class NudgePreferences:
    """When someone likes to be nudged. Days are 0=Monday … 6=Sunday (`date.weekday()`); `end`
    before `start` crosses midnight; `away_until` is the last day away (inclusive)."""

    days: frozenset[int] = WORKING_DAYS
    start: time = DEFAULT_START
    end: time = DEFAULT_END
    away_until: date | None = None

    def __post_init__(self) -> None:
        if not self.days:
            raise PreferencesError("Choose at least one day for reminders.")
        if not self.days <= EVERY_DAY:
            raise PreferencesError(f"Days must be 0 (Monday) to 6 (Sunday): {sorted(self.days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise PreferencesError("Reminder hours are local times, without a time zone.")
        if self.start == self.end:
            raise PreferencesError(
                f"Reminder hours can't start and end at the same time "
                f"({self.start:%H:%M}); try 09:00-17:00."
            )

    @classmethod
    def default(cls) -> NudgePreferences:
        return cls()

    @property
    def uses_default_hours(self) -> bool:
        """Days and hours are the defaults (whatever `away_until` says)."""
        return (self.days, self.start, self.end) == (WORKING_DAYS, DEFAULT_START, DEFAULT_END)

    @property
    def respects_bank_holidays(self) -> bool:
        """Weekday-only choices skip bank holidays; choosing a weekend day means shift work."""
        return self.days <= WORKING_DAYS

    def window(self, zone: ZoneInfo | str = DEFAULT_ZONE) -> NudgeWindow:
        """The nudge window these preferences describe, in the person's zone."""
        resolved = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        return NudgeWindow(self.days, self.start, self.end, resolved, self.respects_bank_holidays)

    def is_away(self, local_date: date) -> bool:
        return self.away_until is not None and local_date <= self.away_until

    # Storage shape (store.rounds.tables.NudgePreference): days as "mon,tue,…", minutes from 00:00.

    def to_row(self) -> tuple[str, int, int, date | None]:
        """(days, window_start_minute, window_end_minute, away_until) for the database."""
        return (format_days(self.days), _minutes(self.start), _minutes(self.end), self.away_until)

    @classmethod
    def from_row(
        cls, days: str, start_minute: int, end_minute: int, away_until: date | None
    ) -> NudgePreferences:
        return cls(
            parse_days(days),
            _from_minutes(start_minute),
            _from_minutes(end_minute),
            away_until,
        )


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _from_minutes(minutes: int) -> time:
    if not 0 <= minutes < 24 * 60:
        raise PreferencesError(f"Minutes since midnight must be 0 to 1439, got {minutes}.")
    return time(minutes // 60, minutes % 60)


# ---- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowPreferences:
    """`reminders` alone: show what is set now."""


@dataclass(frozen=True)
class UpdatePreferences:
    """Save these preferences and confirm them (`describe`)."""

    preferences: NudgePreferences


PreferencesCommand = ShowPreferences | UpdatePreferences

_REMINDERS_WORD = re.compile(r"^reminders?\b\s*", re.IGNORECASE)
_AWAY_UNTIL = re.compile(
    r"^(?:i'?m\s+|i\s+am\s+)?(?:away|on\s+(?:annual\s+)?leave|off)\s+(?:until|till|til|to)\s+(.+)$",
    re.IGNORECASE,
)
_BACK_ON = re.compile(r"^(?:i'?m\s+|i\s+am\s+|i'?ll\s+be\s+)?back\s+on\s+(.+)$", re.IGNORECASE)
_NOT_AWAY = re.compile(
    r"^(?:not\s+away|i'?m\s+back|i\s+am\s+back|no\s+longer\s+away)$", re.IGNORECASE
)
_DEFAULT = {"default", "defaults", "reset", "usual", "normal"}
_SHOW = {"", "show", "status", "settings"}
_OFF = {"off", "stop", "none", "never", "no"}


def is_preferences_command(text: str) -> bool:
    """Whether a chat message is for this module (`reminders …`, `away until …`, `back on …`,
    `not away`). A bare `back` is not: the assessment uses it."""
    cleaned = normalise(text)
    return bool(
        _REMINDERS_WORD.match(cleaned)
        or _AWAY_UNTIL.match(cleaned)
        or _BACK_ON.match(cleaned)
        or _NOT_AWAY.match(cleaned)
    )


def parse_command(text: str, *, current: NudgePreferences, today: date) -> PreferencesCommand:
    """Read a `reminders …` / `away until …` message against the person's current preferences.

    `today` is the person's local date (dates are resolved relative to it). Raises
    `PreferencesError` with a message for the person.
    """
    cleaned = _REMINDERS_WORD.sub("", tidy(text), count=1)
    lowered = cleaned.lower()
    if lowered in _SHOW:
        return ShowPreferences()
    if lowered in _OFF:
        raise PreferencesError(
            "To stop reminders for a round, choose 'Stop reminding me' on one of its reminders. "
            + HELP
        )
    if lowered in _DEFAULT:
        return UpdatePreferences(
            replace(current, days=WORKING_DAYS, start=DEFAULT_START, end=DEFAULT_END)
        )
    if _NOT_AWAY.match(cleaned):
        return UpdatePreferences(replace(current, away_until=None))
    if match := _AWAY_UNTIL.match(cleaned):
        last_away = parse_date(match.group(1), today=today)
        return UpdatePreferences(replace(current, away_until=last_away))
    if match := _BACK_ON.match(cleaned):
        back = parse_date(match.group(1), today=today)
        last_away = back - timedelta(days=1)
        return UpdatePreferences(
            replace(current, away_until=last_away if last_away >= today else None)
        )
    days, hours = split_days_and_hours(cleaned)
    new_days = parse_days(days) if days else current.days
    start, end = parse_hours(hours) if hours else (current.start, current.end)
    return UpdatePreferences(replace(current, days=new_days, start=start, end=end))


def preferences_from_form(
    days: str | Sequence[str | int],
    start: str,
    end: str,
    *,
    current: NudgePreferences | None = None,
) -> NudgePreferences:
    """The card's days/hours form: a day list (["mon", "wed"], or the comma-separated string a
    multi-select ChoiceSet sends, or weekday numbers 0=Monday) and Input.Time strings ("07:30").
    Same rules as the chat; `away_until` is kept from `current`."""
    if isinstance(days, str):
        chosen = parse_days(days) if days.strip() else frozenset()
    else:
        chosen = frozenset()
        for item in days:
            if isinstance(item, bool):
                raise PreferencesError(f"I couldn't read the day '{item}'.")
            if isinstance(item, int):
                if not 0 <= item <= 6:
                    raise PreferencesError(f"I couldn't read the day '{item}'.")
                chosen |= {item}
            else:
                chosen |= parse_days(item)
    if not chosen:
        raise PreferencesError("Choose at least one day for reminders.")
    if not start.strip() or not end.strip():
        raise PreferencesError("Choose a start and an end time for reminders.")
    hours = f"{start.strip()}-{end.strip()}"
    begins = parse_clock(start.strip(), hours, may_be_midnight_end=False)
    ends = parse_clock(end.strip(), hours, may_be_midnight_end=True)
    if begins.at == ends.at:
        raise PreferencesError(
            f"Reminder hours can't start and end at the same time ({begins.at:%H:%M}); "
            "try 09:00-17:00."
        )
    away = current.away_until if current is not None else None
    return NudgePreferences(chosen, begins.at, ends.at, away)


# ---- days ----------------------------------------------------------------------------------


# ---- hours ---------------------------------------------------------------------------------


# ---- dates ---------------------------------------------------------------------------------


# ---- describing ----------------------------------------------------------------------------


def describe(
    prefs: NudgePreferences, zone: ZoneInfo | str = DEFAULT_ZONE, *, today: date | None = None
) -> str:
    """Plain English for the confirmation card, e.g. "Mondays to Fridays except bank holidays,
    09:00–17:00 (Europe/London); away until Thursday 24 December".

    With `today`, an away date already past is left out and one in another year gets its year.
    """
    zone_name = zone.key if isinstance(zone, ZoneInfo) else zone
    days = describe_days(prefs.days)
    if prefs.respects_bank_holidays:
        days += " except bank holidays"
    hours = f"{prefs.start:%H:%M}–{prefs.end:%H:%M}"
    if prefs.end < prefs.start:
        hours += " overnight"
    text = f"{days}, {hours} ({zone_name})"
    away = prefs.away_until
    if away is not None and (today is None or away >= today):
        with_year = today is not None and away.year != today.year
        text += f"; away until {long_date(away, with_year=with_year)}"
    return text
