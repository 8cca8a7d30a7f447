"""What may be recorded for strategic alignment, pure: titles, project statuses, and how a piece
of improvement work is named (`project:3`, `idea:12`). No I/O.

* A title (aim, goal, target, project) or a goal's measure is one line of plain text: control
  characters are removed, runs of whitespace become one space, the ends are trimmed, and what
  is left is 1 to `MAX_TITLE_CHARS` characters.
* A project is `planned`, `active`, `paused`, `completed` or `stopped`.
* Work is named `KIND:ID`: its kind (idea or project) and the positive id its owner gave it.

Anything else raises `AlignmentError`, whose one-line message is fit to show a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from alignment.rules.matrix import MAX_TITLE_CHARS, AlignmentError, WorkKind

__all__ = [
    "WORK_KINDS",
    "ProjectStatus",
    "WorkRef",
    "clean_title",
    "parse_id",
    "parse_status",
    "parse_work_ref",
]

WORK_KINDS: tuple[str, ...] = get_args(WorkKind)
MAX_ID = 2**31 - 1  # ids are INTEGER columns (PostgreSQL int4)
_WHITESPACE = re.compile(r"\s+")


class ProjectStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


def clean_title(value: str | None, what: str) -> str:
    """`value` as one line of plain text, checked; `what` names it ("aim's title")."""
    printable = "".join(ch if ch.isprintable() else " " for ch in value or "")
    cleaned = _WHITESPACE.sub(" ", printable).strip()
    if not cleaned:
        raise AlignmentError(f"The {what} is empty.")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise AlignmentError(
            f"The {what} is {len(cleaned)} characters long; keep it to {MAX_TITLE_CHARS} or fewer."
        )
    return cleaned


def parse_id(value: str | int | None, what: str) -> int:
    """A record's id as typed or chosen on a card ("3"), checked: a positive whole number."""
    if isinstance(value, int):
        number = -1 if isinstance(value, bool) else value
    else:
        text = (value or "").strip()
        if not text.isdecimal():
            shown = f" '{text}'" if text else ""
            raise AlignmentError(f"Choose {what}: the id{shown} is not a number.")
        number = int(text)
    if not 1 <= number <= MAX_ID:
        raise AlignmentError(f"Choose {what}: {number} is not an id.")
    return number


def parse_status(value: str | None) -> ProjectStatus:
    text = (value or "").strip().lower()
    try:
        return ProjectStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in ProjectStatus)
        raise AlignmentError(f"A project is {known}; not '{text}'.") from None


@dataclass(frozen=True)
class WorkRef:
    """A piece of improvement work, as its owner names it: its kind and its id."""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_work_ref(value: str | None) -> WorkRef:
    """`project:3` or `idea:12` → WorkRef; anything else is refused with an example."""
    kind, sep, number = (value or "").strip().lower().partition(":")
    if not sep or kind not in WORK_KINDS or not number.strip().isdecimal():
        raise AlignmentError(
            f"Name the work as KIND:ID, for example project:3 or idea:12 (not '{value or ''}')."
        )
    work_id = int(number)
    if not 1 <= work_id <= MAX_ID:
        raise AlignmentError(f"There is no {kind} {work_id}.")
    return WorkRef(kind, work_id)
