"""When a team's huddle prompt is posted. Pure: no I/O, no clock.

Every function takes the time it should reason about; all datetimes passed in must be
timezone-aware and all datetimes returned are in UTC.

The rules, in one place:

* A huddle happens on each chosen weekday (0=Monday … 6=Sunday, as `date.weekday()`) at `at`,
  local wall-clock time in the schedule's zone, except on a date in `skip_dates` and, when
  `skip_bank_holidays` is set, on an England and Wales bank holiday (or substitute day; see
  `rounds.rules.schedule.is_bank_holiday`). A paused schedule has no huddles at all.
* The prompt is posted `lead_minutes` (0 to 120) before the huddle: ``post_at = huddle_at - lead``.
* Clock changes. The huddle follows the wall clock: 08:30 in London is 08:30 UTC in winter and
  07:30 UTC in summer. A wall-clock time that does not exist (spring forward: 01:30 on the last
  Sunday of March in Europe/London) is moved forward by the gap, to 02:30 BST. A wall-clock time
  that happens twice (autumn: 01:30 on the last Sunday of October) means the first one, 01:30 BST
  (00:30 UTC). This is Python's ``fold=0``, as in `rounds.rules.schedule`.
* Late posting. A prompt is due from its `post_at` until `late_limit` (30 minutes) after it,
  both ends included; a prompt missed for longer (the service was down) is dropped, not posted
  late. It is never posted twice: nothing is due for a local date on or before the last posted
  one. If two prompts fall in the limit (only possible with a long limit), the latest is due.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rounds.rules.schedule import is_bank_holiday
from rounds.rules.written import PreferencesError, format_days
from rounds.rules.written import parse_days as _parse_days

__all__ = [
    "DEFAULT_LATE_LIMIT",
    "MAX_LEAD_MINUTES",
    "HuddleTiming",
    "Occurrence",
    "ScheduleError",
    "due_post",
    "format_days",
    "next_to_post",
    "occurrence_on",
    "occurrences",
    "parse_days",
    "parse_time",
]

MAX_LEAD_MINUTES = 120
DEFAULT_LATE_LIMIT = timedelta(minutes=30)
_ONE_DAY = timedelta(days=1)


class ScheduleError(ValueError):
    """A schedule that can't be used; the one-line message is fit to show the person."""


@dataclass(frozen=True)
class HuddleTiming:
    """When a team huddles: chosen weekdays (0=Monday), a local time, an IANA zone name, and
    what to skip. An empty `days` is allowed (a schedule not set up yet): it has no huddles."""

    days: frozenset[int]
    at: time
    zone: str
    skip_bank_holidays: bool = True
    lead_minutes: int = 0
    paused: bool = False
    skip_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.days <= frozenset(range(7)):
            raise ScheduleError(f"Days must be 0 (Monday) to 6 (Sunday), not {sorted(self.days)}.")
        if self.at.tzinfo is not None:
            raise ScheduleError("The huddle time is a local time; give it without a time zone.")
        if isinstance(self.lead_minutes, bool) or not 0 <= self.lead_minutes <= MAX_LEAD_MINUTES:
            raise ScheduleError(
                f"Post the prompt 0 to {MAX_LEAD_MINUTES} minutes before the huddle, "
                f"not {self.lead_minutes}."
            )
        _zone(self.zone)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.zone)

    @property
    def lead(self) -> timedelta:
        return timedelta(minutes=self.lead_minutes)

    def is_huddle_day(self, local_date: date) -> bool:
        """Whether a huddle happens on this local date (ignoring `paused`)."""
        if local_date.weekday() not in self.days or local_date in self.skip_dates:
            return False
        return not (self.skip_bank_holidays and is_bank_holiday(local_date))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"I don't know the time zone '{name}'; use a name like Europe/London."
        ) from None


@dataclass(frozen=True)
class Occurrence:
    """One huddle: its local date, when it starts and when its prompt is posted (both UTC)."""

    local_date: date
    huddle_at: datetime
    post_at: datetime


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def _wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` as read on a clock in `zone`, in UTC. fold=0 reads a skipped time with the
    offset before the change (so it moves forward by the gap) and a repeated time as the first."""
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def occurrence_on(timing: HuddleTiming, local_date: date) -> Occurrence | None:
    """The huddle on this local date, or None (not a chosen day, skipped, or paused)."""
    if timing.paused or not timing.is_huddle_day(local_date):
        return None
    huddle_at = _wall_clock(local_date, timing.at, timing.tz)
    return Occurrence(local_date, huddle_at, huddle_at - timing.lead)


def occurrences(timing: HuddleTiming, after: datetime) -> Iterator[Occurrence]:
    """Huddles whose prompt is posted strictly after `after`, in time order. Endless, so the
    caller stops; empty when the schedule is paused or has no days."""
    _require_aware(after, "after")
    if timing.paused or not timing.days:
        return
    # A prompt posted after `after` is for a huddle after it, so on this local date or later.
    day = after.astimezone(timing.tz).date()
    while True:
        found = occurrence_on(timing, day)
        if found is not None and found.post_at > after:
            yield found
        day += _ONE_DAY


def next_to_post(
    timing: HuddleTiming,
    now: datetime,
    last_posted_date: date | None,
    late_limit: timedelta = DEFAULT_LATE_LIMIT,
) -> Occurrence | None:
    """The schedule's next huddle still worth posting: the first after `last_posted_date` whose
    prompt time is at most `late_limit` ago. Its `post_at` may be in the past (the prompt is
    due now, late); the job source and every list use this one rule, so they agree."""
    _require_aware(now, "now")
    # `occurrences` is strict; the late limit is inclusive, as in `due_post` (datetimes step
    # in microseconds, so one microsecond earlier makes "after" mean "at or after").
    for coming in occurrences(timing, now - late_limit - timedelta(microseconds=1)):
        if last_posted_date is None or coming.local_date > last_posted_date:
            return coming
    return None


def due_post(
    timing: HuddleTiming,
    now: datetime,
    last_posted_date: date | None,
    late_limit: timedelta = DEFAULT_LATE_LIMIT,
) -> Occurrence | None:
    """The huddle whose prompt should be posted at `now`: `post_at <= now <= post_at +
    late_limit`, and for a local date after `last_posted_date`. None if there is none."""
    _require_aware(now, "now")
    if late_limit < timedelta(0):
        raise ValueError(f"late_limit cannot be negative, got {late_limit}")
    zone = timing.tz
    first = (now - late_limit).astimezone(zone).date()
    last = (now + timing.lead).astimezone(zone).date()
    day, due = first, None
    while day <= last:
        found = occurrence_on(timing, day)
        if found is not None and found.post_at <= now <= found.post_at + late_limit:
            due = found
        day += _ONE_DAY
    if due is None or (last_posted_date is not None and due.local_date <= last_posted_date):
        return None
    return due


# ---- reading what a person typed or chose on the card ---------------------------------------

_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_days(text: str) -> frozenset[int]:
    """`mon,tue,wed,thu,fri`, `weekdays`, `daily`, `every day`, `mon-fri`, `weekends` → weekday
    numbers (0=Monday); ScheduleError with a one-line message if a day can't be read."""
    try:
        return _parse_days(text)
    except PreferencesError as exc:
        raise ScheduleError(str(exc)) from None


def parse_time(text: str) -> time:
    """`08:30` (or `8:30`) on the 24-hour clock → a time; ScheduleError otherwise."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(
            f"I couldn't read the time '{text.strip()}'; use the 24-hour clock, e.g. 08:30."
        )
    return time(int(match.group(1)), int(match.group(2)))
