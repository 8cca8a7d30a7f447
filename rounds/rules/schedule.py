"""When to nudge: reminder plans, nudge windows and the due-time rule. Pure: no I/O, no clock.

One person's nudges (`NudgeState`, `next_nudge_at`, `is_due`) are in rounds.rules.nudges.

Every function takes the time it should reason about; nothing here reads the clock, the database
or Teams. All datetimes passed in must be timezone-aware; all datetimes returned are in UTC.

The rules, in one place:

* A round's reminder plan (`3d,7d,last-day`) becomes plan moments, computed once in the
  organisation's zone with the default window: an offset is N days after the opening at the same
  local wall-clock time, moved to the next working-window start if that is outside working hours;
  `last-day` is the start of the last working window before the close (the morning of the closing
  day when the round closes during or after that morning). Moments at or after the close are
  dropped; moments that coincide are merged.
* A person is nudged only while the round is open, only if they have not submitted or opted out,
  only inside *their* window (days and hours in their own zone) and never on a day they are away.
* Late nudges: a plan moment that passed while the service was down, or while the person was
  outside their window, is not lost: the nudge goes at the first instant that is inside the
  person's window and before the close. One nudge covers every plan moment up to the moment it is
  sent (missed moments collapse into one, never a burst).
* At most one nudge per person per local day (in the person's zone), and at most one per window
  occurrence (a night window 20:00–06:00 is one occurrence however it straddles midnight).
* Idempotent: a nudge sent at `t` sets `last_nudged_at = t`; the next nudge must cover a plan
  moment strictly after `t` and fall on a later local day, so asking again at the same `now`
  (or any time that day) finds nothing due.
* Bank holidays (England and Wales, from the `holidays` package including substitute days) close
  a window only when its `respect_bank_holidays` is set. The default window sets it; personal
  windows set it when the chosen days are weekdays only (see `rounds.rules.preferences`). Only
  weekday dates count: the package also lists e.g. Christmas Day on a Saturday, which is not itself
  a day off — its substitute Monday or Tuesday is.
* Away: `away_until` is the last day away, inclusive. No nudge on that date (for a window that
  crosses midnight, no occurrence opening on that date); nudges resume the next day.
* "Remind me later" (`snooze_until`) asks for a reminder at the start of the person's window on
  their next open day after today. That reminder is due even if no plan moment is pending (the
  person asked for it), and it postpones any plan moment falling before it. Requested reminders
  are the only nudges beyond the plan's count; all nudges together are capped at twice the
  plan's count, which also bounds the damage of a caller that forgets to record a nudge.
* Windows are in local wall-clock time, so they follow daylight saving: 09:00 in Europe/London
  is 09:00 UTC in winter and 08:00 UTC in summer. A wall-clock time skipped by a clock change
  moves forward by the gap; a repeated one means its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "DEFAULT_ZONE",
    "MAX_PLAN_ENTRIES",
    "WORKING_DAYS",
    "NudgeWindow",
    "Occurrence",
    "PlanError",
    "ReminderPlan",
    "is_bank_holiday",
    "resolve_zone",
    "snooze_until",
]

DEFAULT_ZONE = "Europe/London"
WORKING_DAYS: frozenset[int] = frozenset(range(5))  # Monday=0 … Friday=4, as date.weekday()
DEFAULT_START = time(9, 0)
DEFAULT_END = time(17, 0)
MAX_PLAN_ENTRIES = 10
MAX_OFFSET_DAYS = 366
_ONE_DAY = timedelta(days=1)


# ---- zones and bank holidays ---------------------------------------------------------------


def _as_zone(zone: ZoneInfo | str) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def resolve_zone(person_zone: str | None, organisation_zone: str | None = None) -> ZoneInfo:
    """The zone to nudge someone in: their Teams `localTimezone` if it is a known IANA name, else
    the organisation's (`IMPACT_TIMEZONE`), else Europe/London."""
    for name in (person_zone, organisation_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(DEFAULT_ZONE)


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> frozenset[date]:
    # subdiv="ENG": England and Wales share their bank holidays (WLS gives the same dates).
    # Observed (substitute) days are included by default; weekend dates are dropped because a
    # holiday falling on a weekend is not a day off itself — its substitute weekday is.
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return frozenset(day for day in calendar if day.weekday() < 5)


def is_bank_holiday(day: date) -> bool:
    """Whether `day` is a bank holiday (or substitute day) in England and Wales."""
    return day in _bank_holidays(day.year)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def _wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` as a clock in `zone` reads it, returned in UTC.

    fold=0: a time skipped by a clock change (01:30 on the spring-forward Sunday in London) is
    read with the offset before the change, which moves it forward by the gap (02:30 BST); a
    repeated time (01:30 on the autumn Sunday) means its first occurrence.
    """
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


# ---- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One opening of a window: the local day it opens on, and when it opens and closes (UTC).

    A window crossing midnight (20:00–06:00) opens on `day` and closes the next morning.
    """

    day: date
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class NudgeWindow:
    """When someone may be nudged: days of the week (0=Monday … 6=Sunday, as `date.weekday()`),
    a local start and end time (end < start crosses midnight), in their zone.

    A day is open if its weekday is chosen and, when `respect_bank_holidays` is set, it is not a
    bank holiday in England and Wales. For a window crossing midnight the day is the one the
    window opens on: Friday's 20:00–06:00 is Friday's, even though it ends on Saturday.
    Occurrences are half-open: a 09:00–17:00 window contains 09:00 but not 17:00.
    """

    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo
    respect_bank_holidays: bool = True

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a nudge window needs at least one day")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be 0 (Monday) to 6 (Sunday), got {sorted(self.days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times; give them without tzinfo")
        if self.start == self.end:
            raise ValueError("a nudge window cannot start and end at the same time")
        if not isinstance(self.zone, ZoneInfo):
            raise TypeError(f"zone must be a ZoneInfo, got {type(self.zone).__name__}")

    @classmethod
    def default(cls, zone: ZoneInfo | str = DEFAULT_ZONE) -> NudgeWindow:
        """Mondays to Fridays, 09:00–17:00, not on bank holidays."""
        return cls(WORKING_DAYS, DEFAULT_START, DEFAULT_END, _as_zone(zone), True)

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def local_date(self, moment: datetime) -> date:
        """The calendar date in this window's zone at `moment`."""
        _require_aware(moment, "moment")
        return moment.astimezone(self.zone).date()

    def is_open_day(self, local_date: date) -> bool:
        """Whether the window opens on this local date."""
        if local_date.weekday() not in self.days:
            return False
        return not (self.respect_bank_holidays and is_bank_holiday(local_date))

    def occurrence(self, local_date: date) -> Occurrence | None:
        """The window's opening on `local_date`, or None if it does not open that day.

        None also for the rare window a clock change squeezes to nothing (01:00–02:00 on the
        spring-forward Sunday in London).
        """
        if not self.is_open_day(local_date):
            return None
        start = _wall_clock(local_date, self.start, self.zone)
        end_date = local_date + _ONE_DAY if self.crosses_midnight else local_date
        end = _wall_clock(end_date, self.end, self.zone)
        if end <= start:
            return None
        return Occurrence(local_date, start, end)

    def occurrences(self, after: datetime) -> Iterator[Occurrence]:
        """Occurrences that end after `after`, in time order. Endless: the caller stops."""
        day = self.local_date(after) - _ONE_DAY  # yesterday's may still be open past midnight
        while True:
            found = self.occurrence(day)
            if found is not None and found.end > after:
                yield found
            day += _ONE_DAY

    def occurrence_at(self, moment: datetime) -> Occurrence | None:
        """The occurrence containing `moment`, if any."""
        today = self.local_date(moment)
        for day in (today - _ONE_DAY, today):
            found = self.occurrence(day)
            if found is not None and moment in found:
                return found
        return None

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` is inside the window (start inclusive, end exclusive)."""
        return self.occurrence_at(moment) is not None

    def next_start(self, after: datetime) -> datetime:
        """The next time the window opens, at or after `after` (so a window opening exactly at
        `after` gives `after`). If `after` is inside an occurrence, that one has already opened:
        the answer is the following occurrence's start."""
        _require_aware(after, "after")
        return next(o.start for o in self.occurrences(after) if o.start >= after)

    def last_start_before(self, moment: datetime, *, not_before: date) -> datetime | None:
        """The latest window opening strictly before `moment`, looking no further back than the
        local date `not_before`."""
        day = self.local_date(moment)
        while day >= not_before:
            found = self.occurrence(day)
            if found is not None and found.start < moment:
                return found.start
            day -= _ONE_DAY
        return None


def snooze_until(now: datetime, window: NudgeWindow) -> datetime:
    """ "Remind me later": the start of the window on the first open day after today (today being
    the local date at `now` in the window's zone). Friday 15:00 → Monday 09:00, or Tuesday 09:00
    when Monday is a bank holiday; a night worker snoozing at 02:00 on Tuesday is reminded at the
    start of Wednesday's shift (Tuesday's local day has already had its nudge)."""
    _require_aware(now, "now")
    day = window.local_date(now) + _ONE_DAY
    while True:
        found = window.occurrence(day)
        if found is not None:
            return found.start
        day += _ONE_DAY


# ---- reminder plans ------------------------------------------------------------------------


class PlanError(ValueError):
    """A reminder plan that cannot be used; the message names the part that is wrong."""


_OFFSET = re.compile(r"(\d+)\s*([dw])")
_LAST_DAY = "last-day"
_LAST_DAY_SPELLINGS = {"last-day", "last day", "lastday", "last_day"}
_NO_REMINDERS = {"none", "no reminders", "off"}


@dataclass(frozen=True)
class ReminderPlan:
    """When a round reminds people who have not submitted, as written by the improvement team.

    `entries` are in canonical spelling (`3d`, `2w`, `last-day`) and written order;
    `offset_days` are the same offsets in days.
    """

    entries: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ReminderPlan:
        """`3d,7d,last-day` → plan. `none` is a plan with no reminders.

        Each entry is `Nd` (N days after opening), `Nw` (N weeks) or `last-day`, separated by
        commas; at most 10 entries, no two on the same day. Raises `PlanError`.
        """
        cleaned = " ".join(text.split()).lower()
        if not cleaned:
            raise PlanError(
                "The reminder plan is empty. Write days or weeks after opening, e.g. "
                "'3d,7d,last-day', or 'none' for no reminders."
            )
        if cleaned in _NO_REMINDERS:
            return cls(())
        parts = [part.strip() for part in cleaned.split(",")]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()  # a trailing comma is harmless
        if len(parts) > MAX_PLAN_ENTRIES:
            raise PlanError(
                f"The plan has {len(parts)} reminders; at most {MAX_PLAN_ENTRIES} are allowed."
            )
        entries: list[str] = []
        seen: dict[int | None, str] = {}  # offset in days (None: last-day) → as written
        for written in parts:
            if not written:
                raise PlanError(f"There is an empty reminder between two commas in '{text}'.")
            entry, days = _parse_entry(written)
            if days in seen:
                first = seen[days]
                if first == written:
                    raise PlanError(f"Reminder '{written}' appears twice.")
                raise PlanError(f"Reminders '{first}' and '{written}' are the same day.")
            seen[days] = written
            entries.append(entry)
        return cls(tuple(entries))

    def __str__(self) -> str:
        return ",".join(self.entries) if self.entries else "none"

    @property
    def count(self) -> int:
        """How many reminders the plan has (a plan is not a container: `none` is not falsy)."""
        return len(self.entries)

    @property
    def offset_days(self) -> tuple[int, ...]:
        return tuple(days for e in self.entries if (days := _parse_entry(e)[1]) is not None)

    @property
    def last_day(self) -> bool:
        return _LAST_DAY in self.entries

    def moments(
        self, opens_at: datetime, closes_at: datetime, zone: ZoneInfo | str = DEFAULT_ZONE
    ) -> list[datetime]:
        """The plan's moments for a round, in UTC, sorted, without duplicates.

        Computed with the default working window in `zone` (the organisation's): `Nd` is N days
        after `opens_at` at the same local wall-clock time, moved to the next working-window start
        if that is outside working hours (a weekend, a bank holiday, the evening). `last-day` is
        the start of the last working window before `closes_at`: 09:00 on the closing day when
        the round closes at or after 09:00 on a working day, otherwise the working morning before
        (a round closing on Sunday is reminded on Friday). Moments at or after the close, and a
        `last-day` not after the opening, are dropped. These are the round's moments; each
        person's own window then decides when, at or after a moment, their nudge is actually sent.
        """
        _require_aware(opens_at, "opens_at")
        _require_aware(closes_at, "closes_at")
        if closes_at <= opens_at:
            raise ValueError("a round must close after it opens")
        window = NudgeWindow.default(zone)
        local_open = opens_at.astimezone(window.zone).replace(tzinfo=None)
        found: set[datetime] = set()
        for days in self.offset_days:
            moment = (local_open + timedelta(days=days)).replace(tzinfo=window.zone)
            moment = moment.astimezone(UTC)
            if not window.contains(moment):
                moment = window.next_start(moment)
            if moment < closes_at:
                found.add(moment)
        if self.last_day:
            last = window.last_start_before(closes_at, not_before=local_open.date())
            if last is not None and last > opens_at:
                found.add(last)
        return sorted(found)


def _parse_entry(written: str) -> tuple[str, int | None]:
    """One plan entry → (canonical spelling, days after opening; None for last-day)."""
    if written in _LAST_DAY_SPELLINGS:
        return _LAST_DAY, None
    match = _OFFSET.fullmatch(written)
    if match is None:
        raise PlanError(
            f"Reminder '{written}' isn't understood: use days or weeks after opening "
            "(e.g. 3d, 2w) or last-day, separated by commas."
        )
    number, unit = int(match.group(1)), match.group(2)
    days = number * (7 if unit == "w" else 1)
    if days == 0:
        raise PlanError(f"Reminder '{written}' would be at the opening itself; the earliest is 1d.")
    if days > MAX_OFFSET_DAYS:
        raise PlanError(f"Reminder '{written}' is more than a year after opening.")
    return f"{number}{unit}", days
