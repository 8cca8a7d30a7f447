"""The strategic alignment matrix (seed 000): strategic aims → measurable goals → national targets
→ improvement work. Pure: plain records in, a matrix out.

* Each aim is a row, holding its goals in the order given. Each goal lists the targets bearing on
  it (a target may bear on several goals) and the improvement work linked to it.
* Counts per goal (work linked) and per aim (goals, work, goals with no work); a goal with no
  work is flagged, since nobody is working towards it.
* `unaligned` is work linked to no goal, to a goal that does not exist, or to a goal whose aim no
  longer exists. Such work is questioned in the seed's own words: the improvement-work stage's
  description and guiding question, read from the alignment tool's content (never written here).
* Ids are unique within each kind of record (work: within each kind of work, so idea 3 and
  project 3 are two pieces of work). Titles and measures are 1 to 200 characters (not blank);
  work's titles, its owner's words (a huddle idea), 1 to 500. A goal's measure may be unknown
  (None: nothing is measured yet), and work may belong to no team.
* Ids are what the caller stores: strings or positive integers, kept as given (also in JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from framework.content import AlignmentTool, default_alignment_tool

__all__ = [
    "IMPROVEMENT_WORK_STAGE",
    "MAX_TEAM_NAME_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_WORK_TITLE_CHARS",
    "Aim",
    "AimRow",
    "AlignmentError",
    "Challenge",
    "Goal",
    "GoalRow",
    "Matrix",
    "RecordId",
    "Target",
    "UnalignedReason",
    "UnalignedWork",
    "Work",
    "WorkKind",
    "build_matrix",
    "matrix_as_dict",
]

MAX_TITLE_CHARS = 200
MAX_WORK_TITLE_CHARS = 500
"""Work is titled by its owner: a project (200 characters) or a huddle idea (up to 500)."""
MAX_TEAM_NAME_CHARS = 256
"""As long as Teams lets a team's name be."""
IMPROVEMENT_WORK_STAGE = "improvement-work"
"""The alignment tool's stage whose words question unaligned work."""

WorkKind = Literal["idea", "project"]
RecordId = str | int
"""A record's id as its owner stores it: a slug, or a database row's id."""


class AlignmentError(ValueError):
    """Records that cannot make a matrix; the one-line message is fit to show a person."""


def _check_text(value: str, what: str, limit: int = MAX_TITLE_CHARS) -> None:
    if not value.strip():
        raise AlignmentError(f"The {what} is empty.")
    if len(value) > limit:
        raise AlignmentError(
            f"The {what} is {len(value)} characters long; keep it to {limit} or fewer."
        )


def _check_id(value: RecordId, what: str) -> None:
    if isinstance(value, int):
        if isinstance(value, bool) or value < 1:
            raise AlignmentError(f"The {what} id is not a positive number.")
    elif not value.strip():
        raise AlignmentError(f"The {what} id is empty.")


# ---- the records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Aim:
    id: RecordId
    title: str

    def __post_init__(self) -> None:
        _check_id(self.id, "aim")
        _check_text(self.title, "aim's title")


@dataclass(frozen=True)
class Goal:
    """A measurable goal towards an aim; `measure` says what is measured today (None: nothing
    yet, which the seed's question "What are you currently measuring?" asks about)."""

    id: RecordId
    aim_id: RecordId
    title: str
    measure: str | None

    def __post_init__(self) -> None:
        _check_id(self.id, "goal")
        _check_id(self.aim_id, "goal's aim")
        _check_text(self.title, "goal's title")
        if self.measure is not None:
            _check_text(self.measure, "goal's measure")


@dataclass(frozen=True)
class Target:
    """A national target and the goals it bears on."""

    id: RecordId
    title: str
    goal_ids: tuple[RecordId, ...]

    def __post_init__(self) -> None:
        _check_id(self.id, "target")
        _check_text(self.title, "target's title")


@dataclass(frozen=True)
class Work:
    """A piece of improvement work (a huddle idea or a project), linked to a goal or not; its
    team (None: no team) and status (e.g. "active", "testing") as its owner says."""

    id: RecordId
    title: str
    kind: WorkKind
    team_name: str | None
    goal_id: RecordId | None
    status: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "work")
        _check_text(self.title, "work's title", MAX_WORK_TITLE_CHARS)
        if self.team_name is not None:
            _check_text(self.team_name, "team name", MAX_TEAM_NAME_CHARS)
        if self.kind not in get_args(WorkKind):
            raise AlignmentError(f"Work is an idea or a project, not '{self.kind}'.")


# ---- the matrix ----------------------------------------------------------------------------


class UnalignedReason(StrEnum):
    NO_GOAL = "no_goal"
    """Linked to no goal."""
    UNKNOWN_GOAL = "unknown_goal"
    """Linked to a goal that does not exist."""
    AIM_GONE = "aim_gone"
    """Linked to a goal whose aim no longer exists."""


@dataclass(frozen=True)
class UnalignedWork:
    work: Work
    reason: UnalignedReason


@dataclass(frozen=True)
class GoalRow:
    goal: Goal
    targets: tuple[Target, ...]
    work: tuple[Work, ...]

    @property
    def work_count(self) -> int:
        return len(self.work)

    @property
    def has_no_work(self) -> bool:
        """Flag: nobody's improvement work is linked to this goal."""
        return not self.work


@dataclass(frozen=True)
class AimRow:
    aim: Aim
    goals: tuple[GoalRow, ...]

    @property
    def goal_count(self) -> int:
        return len(self.goals)

    @property
    def work_count(self) -> int:
        return sum(row.work_count for row in self.goals)

    @property
    def goals_without_work(self) -> int:
        return sum(1 for row in self.goals if row.has_no_work)


@dataclass(frozen=True)
class Challenge:
    """The seed's words for questioning work: the improvement-work stage of the alignment tool."""

    stage: str
    description: str
    guiding_question: str


@dataclass(frozen=True)
class Matrix:
    rows: tuple[AimRow, ...]
    unaligned: tuple[UnalignedWork, ...]
    challenge: Challenge

    @property
    def work_count(self) -> int:
        """All work, aligned or not."""
        return sum(row.work_count for row in self.rows) + len(self.unaligned)


def _unique(ids: Iterable[object], what: str) -> None:
    seen: set[object] = set()
    for found in ids:
        if found in seen:
            raise AlignmentError(f"Two {what} have the id '{found}'.")
        seen.add(found)


def _challenge(tool: AlignmentTool) -> Challenge:
    stage = tool.stage(IMPROVEMENT_WORK_STAGE)
    return Challenge(stage.name, stage.description, stage.guiding_question)


def _goal_row(goal: Goal, targets: Sequence[Target], work: Sequence[Work]) -> GoalRow:
    return GoalRow(
        goal,
        tuple(t for t in targets if goal.id in t.goal_ids),
        tuple(w for w in work if w.goal_id == goal.id),
    )


def _unaligned(
    work: Sequence[Work], goals: Sequence[Goal], aim_ids: set[RecordId]
) -> list[UnalignedWork]:
    aim_of = {goal.id: goal.aim_id for goal in goals}
    found: list[UnalignedWork] = []
    for item in work:
        if item.goal_id is None:
            found.append(UnalignedWork(item, UnalignedReason.NO_GOAL))
        elif item.goal_id not in aim_of:
            found.append(UnalignedWork(item, UnalignedReason.UNKNOWN_GOAL))
        elif aim_of[item.goal_id] not in aim_ids:
            found.append(UnalignedWork(item, UnalignedReason.AIM_GONE))
    return found


def build_matrix(
    aims: Sequence[Aim],
    goals: Sequence[Goal],
    targets: Sequence[Target],
    work: Sequence[Work],
    *,
    tool: AlignmentTool | None = None,
) -> Matrix:
    """The matrix, in the order given; `tool` defaults to the packaged alignment tool."""
    for ids, what in (
        ((a.id for a in aims), "aims"),
        ((g.id for g in goals), "goals"),
        ((t.id for t in targets), "targets"),
    ):
        _unique(ids, what)
    seen: set[tuple[str, RecordId]] = set()
    for item in work:
        if (item.kind, item.id) in seen:
            raise AlignmentError(f"Two pieces of work are {item.kind} '{item.id}'.")
        seen.add((item.kind, item.id))
    rows = tuple(
        AimRow(aim, tuple(_goal_row(g, targets, work) for g in goals if g.aim_id == aim.id))
        for aim in aims
    )
    unaligned = _unaligned(work, goals, {a.id for a in aims})
    return Matrix(rows, tuple(unaligned), _challenge(tool or default_alignment_tool()))


# ---- for --json ----------------------------------------------------------------------------


def _work_dict(work: Work) -> dict[str, Any]:
    return {
        "id": work.id,
        "title": work.title,
        "kind": work.kind,
        "team_name": work.team_name,
        "goal_id": work.goal_id,
        "status": work.status,
    }


def _goal_dict(row: GoalRow) -> dict[str, Any]:
    return {
        "id": row.goal.id,
        "title": row.goal.title,
        "measure": row.goal.measure,
        "work_count": row.work_count,
        "has_no_work": row.has_no_work,
        "targets": [{"id": t.id, "title": t.title} for t in row.targets],
        "work": [_work_dict(w) for w in row.work],
    }


def matrix_as_dict(matrix: Matrix) -> dict[str, Any]:
    """The matrix as plain JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""
    return {
        "aims": [
            {
                "id": row.aim.id,
                "title": row.aim.title,
                "goal_count": row.goal_count,
                "work_count": row.work_count,
                "goals_without_work": row.goals_without_work,
                "goals": [_goal_dict(g) for g in row.goals],
            }
            for row in matrix.rows
        ],
        "unaligned": [
            {"reason": u.reason.value, "work": _work_dict(u.work)} for u in matrix.unaligned
        ],
        "challenge": {
            "stage": matrix.challenge.stage,
            "description": matrix.challenge.description,
            "guiding_question": matrix.challenge.guiding_question,
        },
        "work_count": matrix.work_count,
    }
