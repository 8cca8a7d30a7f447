"""What the alignment services need from other features, as protocols: the composition root
(impact/features/alignment.py) passes the implementations, so alignment never imports them.

`WorkSource` is one kind of improvement work the matrix shows and links to goals. Projects are
alignment's own (alignment.services.projects.ProjectWork); the huddles feature's ideas are
another, wired in by the composition root. A source lists its work inside the unit of work that
builds the matrix or checks a link (the session it is given), and never changes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from alignment.rules.matrix import WorkKind


@dataclass(frozen=True)
class WorkItem:
    """A piece of improvement work as its owner stores it.

    `id` is the owner's id (unique within its kind), `title` what it is (shown as plain text;
    longer than `alignment.rules.matrix.MAX_WORK_TITLE_CHARS` is shortened for display),
    `team_name` the team doing it (None: no team), `status` the owner's word for where it is
    (a project: planned, active, ...; an idea: new, testing, ...)."""

    kind: WorkKind
    id: int
    title: str
    team_name: str | None
    status: str


class WorkSource(Protocol):
    """One kind of improvement work: every piece of it there is, in the order to show it."""

    @property
    def kind(self) -> WorkKind: ...

    def list_work(self, session: Session) -> Sequence[WorkItem]:
        """All work of this kind (of `kind`), read in the caller's transaction."""
        ...
