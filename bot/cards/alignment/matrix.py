"""The strategic alignment matrix as a card: aims → measurable goals → national targets →
improvement work, with counts, then the work linked to no aim under seed 000's own words.

Phone-sized and under Teams' size limit however many aims a trust has: the matrix flows into
pages of at most `MAX_PAGE_LINES` lines and `MAX_PAGE_BYTES` bytes of content, each page saying
which it is ("Page 2 of 5") with Previous and Next; a page that starts inside an aim or a goal
repeats its heading, marked "(continued)". Titles are people's words, shown as TextRuns (never
markdown); headings are marked for screen readers; a goal with no work says so in words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alignment.rules.matrix import AimRow, GoalRow, Matrix, UnalignedReason, Work
from bot.cards.alignment.parts import KIND_NAMES, count, plain_notice, runs, strong, work_details
from bot.cards.common import Card, Element, card, execute, text

__all__ = ["MAX_PAGE_BYTES", "MAX_PAGE_LINES", "matrix_card", "page_count"]

MAX_PAGE_BYTES = 18_000
"""Content of one page (the header, notice and buttons come on top, about 2 KB)."""
MAX_PAGE_LINES = 20
"""Lines (an aim, a goal, a piece of work) on one page: a phone's few screens."""

REASONS = {
    UnalignedReason.NO_GOAL: "linked to no goal",
    UnalignedReason.UNKNOWN_GOAL: "its goal no longer exists",
    UnalignedReason.AIM_GONE: "its goal's aim no longer exists",
}

Kind = Literal["aim", "goal", "work", "challenge", "unaligned"]


@dataclass(frozen=True)
class _Line:
    """One line of the matrix as it flows into pages, with what it sits under."""

    kind: Kind
    elements: tuple[Element, ...]
    aim: AimRow | None = None
    goal: GoalRow | None = None


def _size(elements: Sequence[Element]) -> int:
    return len(json.dumps(list(elements), ensure_ascii=False).encode())


# ---- the lines ----------------------------------------------------------------------------


def _aim_heading(row: AimRow, continued: bool = False) -> list[Element]:
    label = f"Aim {row.aim.id}" + (" (continued)" if continued else "")
    heading = text(label, weight="bolder", heading=True, spacing="large")
    heading["separator"] = True
    return [heading, strong(row.aim.title)]


def _aim_lines(row: AimRow) -> tuple[Element, ...]:
    counts = (
        f"{count(row.goal_count, 'goal')} · "
        f"{count(row.work_count, 'piece of work', 'pieces of work')}"
    )
    if row.goals_without_work:
        counts += f" · {count(row.goals_without_work, 'goal')} with no work"
    return (*_aim_heading(row), text(counts, size="small", subtle=True, spacing="none"))


def _goal_lines(row: GoalRow) -> tuple[Element, ...]:
    goal = row.goal
    found: list[Element] = [
        runs((f"Goal {goal.id}: ", "bolder"), (goal.title, "default"), spacing="medium"),
        runs(("Measured today: ", "subtle"), (goal.measure or "not recorded", "subtle")),
    ]
    if row.targets:
        titles = "; ".join(t.title for t in row.targets)
        found.append(runs(("National targets: ", "subtle"), (titles, "default")))
    if row.has_no_work:
        found.append(text("⚠ No improvement work is linked to this goal.", size="small"))
    else:
        found.append(
            text(
                count(row.work_count, "piece of work", "pieces of work") + ":",
                size="small",
                subtle=True,
            )
        )
    return tuple(found)


def _work_line(work: Work, reason: str = "") -> Element:
    details = work_details(work) + (f"; {reason}" if reason else "")
    return runs(
        (f"• {KIND_NAMES[work.kind]} {work.id}: ", "bolder"),
        (work.title, "default"),
        (f" ({details})", "subtle"),
        spacing="small",
    )


def _challenge_heading(matrix: Matrix, continued: bool = False) -> Element:
    suffix = " (continued)" if continued else f" ({len(matrix.unaligned)})"
    heading = text(
        f"{matrix.challenge.stage} linked to no aim{suffix}",
        weight="bolder",
        heading=True,
        spacing="large",
    )
    heading["separator"] = True
    return heading


def _lines(matrix: Matrix) -> list[_Line]:
    lines: list[_Line] = []
    for row in matrix.rows:
        lines.append(_Line("aim", _aim_lines(row), row))
        for goal in row.goals:
            lines.append(_Line("goal", _goal_lines(goal), row, goal))
            lines += [_Line("work", (_work_line(w),), row, goal) for w in goal.work]
    if matrix.unaligned:
        challenge = matrix.challenge
        lines.append(
            _Line(
                "challenge",
                (
                    _challenge_heading(matrix),
                    text(challenge.description, size="small"),
                    text(challenge.guiding_question, weight="bolder"),
                ),
            )
        )
        lines += [
            _Line("unaligned", (_work_line(u.work, REASONS[u.reason]),)) for u in matrix.unaligned
        ]
    return lines


def _continuation(lines: Sequence[_Line], start: int, matrix: Matrix) -> list[Element]:
    """The headings a page needs when it starts inside an aim, a goal or the unaligned list."""
    first = lines[start]
    if first.kind in ("goal", "work") and first.aim is not None:
        found = _aim_heading(first.aim, continued=True)
        if first.kind == "work" and first.goal is not None:
            goal = first.goal.goal
            found.append(runs((f"Goal {goal.id} (continued): ", "bolder"), (goal.title, "default")))
        return found
    if first.kind == "unaligned":
        return [_challenge_heading(matrix, continued=True)]
    return []


# ---- pages --------------------------------------------------------------------------------


def _pages(lines: Sequence[_Line], matrix: Matrix) -> list[tuple[int, int]]:
    """(start, end) of each page: as many lines as fit, and at least one."""
    pages: list[tuple[int, int]] = []
    start = 0
    while start < len(lines):
        used, end = _size(_continuation(lines, start, matrix)), start
        while end < len(lines):
            more = _size(lines[end].elements)
            if end > start and (used + more > MAX_PAGE_BYTES or end - start >= MAX_PAGE_LINES):
                break
            used, end = used + more, end + 1
        pages.append((start, end))
        start = end
    return pages or [(0, 0)]


def page_count(matrix: Matrix) -> int:
    return len(_pages(_lines(matrix), matrix))


def _summary(matrix: Matrix) -> str:
    goals = sum(row.goal_count for row in matrix.rows)
    targets = {t.id for row in matrix.rows for g in row.goals for t in g.targets}
    return (
        f"{count(len(matrix.rows), 'aim')} · {count(goals, 'goal')} · "
        f"{count(len(targets), 'national target')} · "
        f"{count(matrix.work_count, 'piece of work', 'pieces of work')}, "
        f"{len(matrix.unaligned)} linked to no aim"
    )


def matrix_card(
    matrix: Matrix, *, page: int = 1, notice: str | None = None, first_question: str = ""
) -> Card:
    """Page `page` of the matrix (the last page if there are fewer). `first_question` is what
    an empty matrix asks: the strategic aims stage's guiding question."""
    lines = _lines(matrix)
    pages = _pages(lines, matrix)
    if page > len(pages) and notice is None:
        notice = f"ⓘ The matrix has {count(len(pages), 'page')} now: this is the last."
    page = min(max(page, 1), len(pages))
    start, end = pages[page - 1]
    body: list[Element] = [plain_notice(notice)] if notice else []
    body += [
        text("Strategic alignment", size="medium", weight="bolder", heading=True),
        text(_summary(matrix), size="small", subtle=True, spacing="none"),
    ]
    if len(pages) > 1:
        last = f"; work linked to no aim: page {len(pages)}" if matrix.unaligned else ""
        body.append(text(f"Page {page} of {len(pages)}{last}", size="small", spacing="none"))
    if not lines:
        body += [text("No strategic aims are recorded yet.", spacing="medium")]
        body += [text(first_question, weight="bolder")] if first_question else []
    if lines:
        body += _continuation(lines, start, matrix)
        body += [element for line in lines[start:end] for element in line.elements]
    actions: list[Element] = []
    if page > 1:
        actions.append(
            execute("Previous page", "alignment_page", {"page": page - 1}, inputs="none")
        )
    if page < len(pages):
        actions.append(execute("Next page", "alignment_page", {"page": page + 1}, inputs="none"))
    actions.append(execute("Record or link…", "alignment_menu", {"page": page}, inputs="none"))
    speak = f"Strategic alignment: {_summary(matrix)}."
    return card(body, actions, speak=speak)
