"""A person's own profile: their level per component and overall.

Levels are ordinal (Starting < Developing < ...), so the summary is the median, not the mean.
A median that falls between two levels (an even number of answers) is shown as the span
between them. Skipped questions do not count, and a level is shown only where at least half of
the questions were answered: one answer out of four says too little about a component.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import median

from framework.content import Framework


def level_label(framework: Framework, median: float) -> str:
    """The level name for a median: "Progressing", or "Progressing to Spreading" between two."""
    low, high = math.floor(median), math.ceil(median)
    if low == high:
        return framework.level(low).name
    return f"{framework.level(low).name} to {framework.level(high).name}"


NOT_ENOUGH_ANSWERS = "Not enough answers"
ENOUGH_ANSWERS_RULE = "A level is shown only where at least half of the questions were answered."


@dataclass(frozen=True)
class LevelSummary:
    answered: int
    of: int
    median: float | None  # None when nothing in the group was answered

    @property
    def enough(self) -> bool:
        """At least half of the group's questions answered (and at least one)."""
        return self.answered > 0 and self.answered * 2 >= self.of

    @property
    def shown_median(self) -> float | None:
        """The median, where there are enough answers to show one."""
        return self.median if self.enough else None

    def label(self, framework: Framework) -> str:
        shown = self.shown_median
        return NOT_ENOUGH_ANSWERS if shown is None else level_label(framework, shown)


@dataclass(frozen=True)
class ComponentSummary:
    component_id: str
    number: int
    name: str
    summary: LevelSummary


@dataclass(frozen=True)
class Profile:
    components: tuple[ComponentSummary, ...]
    overall: LevelSummary


def summarise(levels: Iterable[int | None], of: int) -> LevelSummary:
    answered = [level for level in levels if level is not None]
    return LevelSummary(
        answered=len(answered), of=of, median=float(median(answered)) if answered else None
    )


def profile(framework: Framework, levels_by_question: Mapping[int, int | None]) -> Profile:
    components = tuple(
        ComponentSummary(
            component_id=component.id,
            number=component.number,
            name=component.name,
            summary=summarise(
                (levels_by_question.get(q.number) for q in component.questions),
                of=len(component.questions),
            ),
        )
        for component in framework.components
    )
    overall = summarise(levels_by_question.values(), of=framework.question_count)
    return Profile(components=components, overall=overall)
