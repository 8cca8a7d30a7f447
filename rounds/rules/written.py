"""How people write days, hours and dates in a chat or a form ("mon-fri", "9-5pm",
"24 December", "weekdays"), read and written back in plain English. Pure; used by reminder
preferences and huddle schedules alike."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, time, timedelta

from rounds.rules.schedule import WORKING_DAYS

WEEKENDS: frozenset[int] = frozenset({5, 6})

EVERY_DAY: frozenset[int] = frozenset(range(7))

MAX_AWAY = timedelta(days=731)


def normalise(text: str) -> str:
    return tidy(text).lower()


def tidy(text: str) -> str:
    """Curly apostrophes and dashes made plain, trailing full stops dropped, spaces collapsed;
    case kept (so that error messages quote what the person wrote)."""
    text = text.strip().replace("\u2019", "'")
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)  # dashes and minus signs → hyphen
    text = re.sub(r"[.!?]+$", "", text)
    return " ".join(text.split())


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_DAY_PLURALS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


_WEEKDAY_FULL = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class PreferencesError(ValueError):
    """What the person typed or submitted can't be used; the message is fit to show them."""


_DAY_GROUPS: dict[str, frozenset[int]] = {
    "weekdays": WORKING_DAYS,
    "weekday": WORKING_DAYS,
    "workdays": WORKING_DAYS,
    "weekends": WEEKENDS,
    "weekend": WEEKENDS,
    "everyday": EVERY_DAY,
    "daily": EVERY_DAY,
    "all": EVERY_DAY,
}

_MONTH_WORDS: dict[str, int] = {
    spelling: number
    for number, month in enumerate(MONTHS, start=1)
    for spelling in (month.lower(), month.lower()[:3])
} | {"sept": 9}


def _day_words() -> dict[str, int]:
    """monday, mondays, mon, mons … and the usual short forms → weekday number."""
    words = {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
    for index, full in enumerate(_WEEKDAY_FULL):
        name = full.lower()
        for spelling in (name, name + "s", name[:3], name[:3] + "s"):
            words[spelling] = index
    return words


_DAY_WORDS = _day_words()


_DAY_FILLER = {"on", "from", "at", "between", "only", "and", "days", "day", "every", "each"}


def parse_days(text: str) -> frozenset[int]:
    """`weekdays`, `weekends`, `every day`, `mon,wed,sat`, `mon-fri`, `friday to monday` (a range
    may wrap round the weekend), `mondays and thursdays` → weekday numbers (0=Monday)."""
    cleaned = tidy(text)
    cleaned = re.sub(
        r"\bevery\s*day\b|\ball\s+(?:days|week)\b|\bany\s+day\b",
        " everyday ",
        cleaned,
        flags=re.IGNORECASE,
    )
    cleaned = re.sub(r"\bweek\s+(days?|ends?)\b", r"week\1", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"\s*\b(?:to|through|thru|until|till)\b\s*", "-", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"\s*-\s*", "-", cleaned)
    chosen: set[int] = set()
    for written in re.split(r"[\s,/&+;]+", cleaned):
        token = written.lower()
        if not token or token in _DAY_FILLER:
            continue
        if token in _DAY_GROUPS:
            chosen |= _DAY_GROUPS[token]
            continue
        if "-" in token:
            first, _, last = token.partition("-")
            if first in _DAY_WORDS and last in _DAY_WORDS:
                index = _DAY_WORDS[first]
                while True:
                    chosen.add(index)
                    if index == _DAY_WORDS[last]:
                        break
                    index = (index + 1) % 7
                continue
        if token in _DAY_WORDS:
            chosen.add(_DAY_WORDS[token])
            continue
        raise PreferencesError(
            f"I couldn't read the day '{written}'; try weekdays, weekends, every day "
            "or days like mon,wed,sat."
        )
    if not chosen:
        raise PreferencesError(
            f"I couldn't find any days in '{text.strip()}'; try weekdays, weekends, every day "
            "or days like mon,wed,sat."
        )
    return frozenset(chosen)


def format_days(days: frozenset[int]) -> str:
    """Weekday numbers → `mon,tue,…` (the storage form, read back by `parse_days`)."""
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def describe_days(days: frozenset[int]) -> str:
    """`Mondays to Fridays`, `Saturdays and Sundays`, `Every day`, `Mondays, Wednesdays and
    Saturdays`, `Mondays to Wednesdays and Saturdays`."""
    if days == EVERY_DAY:
        return "Every day"
    # Start after a gap, so that a run round the weekend reads "Fridays to Mondays".
    first = next(d for d in sorted(days) if (d - 1) % 7 not in days)
    runs: list[list[int]] = []
    for step in range(7):
        day = (first + step) % 7
        if day not in days:
            continue
        if runs and runs[-1][-1] == (day - 1) % 7:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [
        f"{_DAY_PLURALS[run[0]]} to {_DAY_PLURALS[run[-1]]}"
        if len(run) >= 3
        else ", ".join(_DAY_PLURALS[d] for d in run)
        for run in runs
    ]
    words = ", ".join(parts).split(", ")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


_CLOCK = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m|p\.m)?\.?")


_HOURS_SPAN = re.compile(
    r"\d[\d:.h]*\s*(?:a\.?m\.?|p\.?m\.?)?(?:.*\d[\d:.h]*\s*(?:a\.?m\.?|p\.?m\.?)?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Clock:
    at: time
    suffix: str | None  # "am" / "pm" when written
    twelve_hour_look: bool  # written as 1–12 with no leading zero and no suffix ("9", "5:30")
    hour: int
    minute: int


def split_days_and_hours(text: str) -> tuple[str, str]:
    """Hours are the stretch from the first digit to the last time; the rest is days."""
    match = _HOURS_SPAN.search(text)
    if match is None:
        return text, ""
    return (text[: match.start()] + " " + text[match.end() :]).strip(), match.group(0).strip()


def _hours_error(raw: str) -> PreferencesError:
    return PreferencesError(f"I couldn't read the hours '{raw}'; try 09:00-17:00.")


def parse_clock(written: str, raw: str, *, may_be_midnight_end: bool) -> _Clock:
    match = _CLOCK.fullmatch(written.strip())
    if match is None:
        raise _hours_error(raw)
    hour_text, minute_text, suffix_text = match.groups()
    hour, minute = int(hour_text), int(minute_text or 0)
    suffix = suffix_text.replace(".", "") if suffix_text else None
    if minute > 59:
        raise _hours_error(raw)
    if suffix is not None:
        if not 1 <= hour <= 12:
            raise _hours_error(raw)
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif hour == 24 and minute == 0 and may_be_midnight_end:
        hour = 0
    elif hour > 23:
        raise _hours_error(raw)
    twelve = suffix is None and 1 <= int(hour_text) <= 12 and not hour_text.startswith("0")
    return _Clock(time(hour, minute), suffix, twelve, int(hour_text), minute)


def parse_hours(text: str) -> tuple[time, time]:
    """`9-17`, `07:30-19:00`, `20:00-06:00`, `9am-5pm`, `9 to 5pm` → (start, end)."""
    raw = text.strip()
    pieces = re.split(r"\s*(?:-|\bto\b|\buntil\b|\btill\b)\s*", normalise(raw))
    if len(pieces) != 2 or not all(pieces):
        raise _hours_error(raw)
    start = parse_clock(pieces[0], raw, may_be_midnight_end=False)
    end = parse_clock(pieces[1], raw, may_be_midnight_end=True)
    if (start.suffix is None) != (end.suffix is None):
        start, end = _borrow_suffix(start, end, raw)
    elif (
        start.suffix is None
        and end.at < start.at
        and start.twelve_hour_look
        and end.twelve_hour_look
    ):
        raise PreferencesError(
            f"Did you mean {start.at:%H:%M} to {end.at:%H:%M} overnight, or "
            f"{start.at:%H:%M} to {end.hour + 12:02d}:{end.minute:02d}? Please use the "
            "24-hour clock, e.g. 09:00-17:00 or 21:00-05:00."
        )
    if start.at == end.at:
        raise PreferencesError(
            f"The hours '{raw}' start and end at the same time; try 09:00-17:00."
        )
    return start.at, end.at


def _borrow_suffix(start: _Clock, end: _Clock, raw: str) -> tuple[_Clock, _Clock]:
    """One side has am/pm ("9-5pm", "10-11pm", "9am-5"): the bare side is read with the same
    suffix, as the 24-hour clock, or with the other suffix, whichever first gives a window that
    does not cross midnight; if none does, ask rather than guess."""
    bare, written = (start, end) if start.suffix is None else (end, start)
    options: list[time] = [bare.at]
    if bare.twelve_hour_look:
        same_pm = written.suffix == "pm"
        options.insert(0, time(bare.hour % 12 + (12 if same_pm else 0), bare.minute))
        options.append(time(bare.hour % 12 + (0 if same_pm else 12), bare.minute))
    for option in options:
        candidate = replace(bare, at=option)
        pair = (candidate, end) if bare is start else (start, candidate)
        if pair[0].at < pair[1].at:
            return pair
    raise PreferencesError(
        f"I couldn't tell which hours '{raw}' means; please use the 24-hour clock, "
        "e.g. 09:00-17:00 or 21:00-05:00."
    )


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


_NUMERIC = re.compile(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?")


_DAY_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+([a-z]+)\.?(?:,?\s+(\d{4}))?")


_MONTH_DAY = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?")


def _date_error(raw: str) -> PreferencesError:
    return PreferencesError(f"I couldn't read the date '{raw}'; try 24 December or 2026-12-24.")


def parse_date(text: str, *, today: date) -> date:
    """`24 Dec`, `24th December 2026`, `December 24`, `2026-12-24`, `24/12/2026`, `24/12`,
    `Thursday 24 December`, `Friday`, `tomorrow`, `today` → a date, never before `today`.

    Without a year: the first such date on or after `today`. A weekday name alone: the next one
    after today. With a year that has passed: an error.
    """
    raw = text.strip()
    cleaned = normalise(raw)
    if cleaned == "today":
        return today
    if cleaned == "tomorrow":
        return today + timedelta(days=1)
    named_weekday: int | None = None
    head, _, rest = cleaned.partition(" ")
    head = head.rstrip(",")
    if head in _DAY_WORDS:
        named_weekday = _DAY_WORDS[head]
        if not rest:
            ahead = (named_weekday - today.weekday() - 1) % 7 + 1
            return today + timedelta(days=ahead)
        cleaned = rest.strip()
    year: int | None
    if match := _ISO.fullmatch(cleaned):
        year, month, day = (int(g) for g in match.groups())
    elif match := _NUMERIC.fullmatch(cleaned):
        day, month = int(match.group(1)), int(match.group(2))
        year = _full_year(match.group(3))
    elif (match := _DAY_MONTH.fullmatch(cleaned)) and match.group(2) in _MONTH_WORDS:
        day, month = int(match.group(1)), _MONTH_WORDS[match.group(2)]
        year = int(match.group(3)) if match.group(3) else None
    elif (match := _MONTH_DAY.fullmatch(cleaned)) and match.group(1) in _MONTH_WORDS:
        day, month = int(match.group(2)), _MONTH_WORDS[match.group(1)]
        year = int(match.group(3)) if match.group(3) else None
    else:
        raise _date_error(raw)
    resolved = _resolve(day, month, year, today=today, raw=raw)
    if named_weekday is not None and resolved.weekday() != named_weekday:
        raise PreferencesError(
            f"{resolved.day} {MONTHS[resolved.month - 1]} {resolved.year} is a "
            f"{_WEEKDAY_FULL[resolved.weekday()]}, "
            f"not a {_WEEKDAY_FULL[named_weekday]}; which did you mean?"
        )
    if resolved - today > MAX_AWAY:
        raise PreferencesError(
            f"{long_date(resolved, with_year=True)} is more than two years away; "
            "please give a nearer date."
        )
    return resolved


def _full_year(written: str | None) -> int | None:
    if written is None:
        return None
    year = int(written)
    return year + 2000 if len(written) == 2 else year


def _resolve(day: int, month: int, year: int | None, *, today: date, raw: str) -> date:
    if year is not None:
        try:
            resolved = date(year, month, day)
        except ValueError:
            raise _date_error(raw) from None
        if resolved < today:
            raise PreferencesError(
                f"{long_date(resolved, with_year=True)} has already passed; "
                "please give a date from today on."
            )
        return resolved
    for candidate_year in range(today.year, today.year + 9):  # 29 February within 8 years
        try:
            resolved = date(candidate_year, month, day)
        except ValueError:
            if month == 2 and day == 29:
                continue
            raise _date_error(raw) from None
        if resolved >= today:
            return resolved
    raise _date_error(raw)


def long_date(day: date, *, with_year: bool) -> str:
    text = f"{_WEEKDAY_FULL[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text
