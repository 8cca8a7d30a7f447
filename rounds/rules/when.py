"""Reading the times and periods people type (CLI and Teams forms).

WHEN:   an ISO 8601 date (`2026-12-01`, meaning 09:00 that day) or date-time (`2026-12-01T14:30`)
        in the organisation's zone unless it carries its own offset; `now`; or `+14d`, `+2w`,
        `+36h` from now.
PERIOD: `6m` (months), `12w`, `30d`: how often a round repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME_OF_DAY = time(9, 0)
_RELATIVE = re.compile(r"^\+(\d{1,4})([dwh])$")
_PERIOD = re.compile(r"^(\d{1,3})([dwm])$")


class WhenError(ValueError):
    """The text is not a time or period we can read; the message says what would be."""


def parse_when(text: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """A moment as an aware UTC datetime."""
    value = text.strip().lower()
    if value == "now":
        return now.astimezone(UTC)
    if match := _RELATIVE.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        delta = {
            "d": timedelta(days=amount),
            "w": timedelta(weeks=amount),
            "h": timedelta(hours=amount),
        }
        return (now + delta[unit]).astimezone(UTC)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return local_moment(datetime.combine(day, DEFAULT_TIME_OF_DAY), zone).astimezone(UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WhenError(
            f"can't read {text!r} as a time: use 2026-12-01, 2026-12-01T14:30, now, or +14d"
        ) from None
    if moment.tzinfo is None:
        moment = local_moment(moment, zone)
    return moment.astimezone(UTC)


def local_moment(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone`, refused if the clocks skip it or show it twice (a DST change,
    e.g. 01:30 on the last Sunday of March or October in Europe/London): either would be a
    guess at what the person meant."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    shown = f"{wall:%Y-%m-%d %H:%M}"
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise WhenError(
            f"{shown} does not exist in {zone.key}: the clocks go forward then. "
            "Choose a time an hour later or earlier"
        )
    raise WhenError(
        f"{shown} happens twice in {zone.key}: the clocks go back then. "
        "Choose a time outside that hour, or give the offset (e.g. "
        f"{wall:%Y-%m-%dT%H:%M}{_offset(first)} or {wall:%Y-%m-%dT%H:%M}{_offset(second)})"
    )


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class Period:
    amount: int
    unit: str  # d | w | m

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip().lower())
        if not match or int(match.group(1)) == 0:
            raise WhenError(f"can't read {text!r} as a period: use e.g. 6m, 12w or 90d")
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The same local wall-clock time one period later (months keep the day where they can)."""
        local = moment.astimezone(zone)
        if self.unit == "d":
            shifted = local.replace(tzinfo=None) + timedelta(days=self.amount)
        elif self.unit == "w":
            shifted = local.replace(tzinfo=None) + timedelta(weeks=self.amount)
        else:
            month_index = local.month - 1 + self.amount
            year, month = local.year + month_index // 12, month_index % 12 + 1
            day = min(local.day, _days_in_month(year, month))
            shifted = local.replace(tzinfo=None, year=year, month=month, day=day)
        return shifted.replace(tzinfo=zone).astimezone(UTC)


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
