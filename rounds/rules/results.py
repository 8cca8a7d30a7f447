"""A round's results as pure data: histograms, figures per group, and what may be shown.

`store.rounds.results` runs the SQL (GROUP BY counts) and hands the aggregated rows to
:func:`build_round_results`, which applies the anonymity rules (`rounds.rules.anonymity`) and builds
these objects. Nothing here does I/O.

**Suppression is structural.** A figure object that may not be shown is built *without* its data:
``QuestionResult.hidden(...)`` keeps the question and the reason, never the histogram. Every
figure object has ``suppressed`` and ``reason``, and the only way to read a figure is through an
accessor (``median()``, ``histogram()``, ``iqr()``, ``comments()``, ...) that returns None when it
is suppressed. Renderers (cards, charts, exports, CLI) must use those accessors; there is nothing
else to read.

Levels are ordinal (1 Starting … 5 Improving and sustaining), so the summaries are the median and
quartiles, taken from the 5-bin histogram with the usual "inclusive" rule (linear interpolation
between order statistics; the median of an even number of answers can fall half-way between two
levels, shown as "Progressing to Spreading"). Skipped questions are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.scoring import level_label
from rounds.rules.anonymity import GroupId, Reason
from rounds.rules.histogram import LEVEL_COUNT, LevelHistogram, format_level

__all__ = [
    "LEVEL_COUNT",
    "ROLE_GROUPS",
    "ROLE_OF_ROLE_GROUP",
    "Comment",
    "ComponentChange",
    "ComponentGap",
    "ComponentResult",
    "GroupResult",
    "LevelHistogram",
    "QuestionResult",
    "Reason",
    "RoundResults",
    "TeamResult",
    "format_level",
    "level_label",
    "reason_text",
    "role_group_of",
]


# Role groups shown within a team. Five roles within one team would almost always fall below
# the threshold, so they are merged: the first two are the groups of the perception gap.
ROLE_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "leaders": ("Leaders", ("board_executive", "senior_leader_manager")),
    "frontline": ("Frontline staff", ("frontline_clinical", "frontline_non_clinical")),
    "support": ("Support and corporate staff", ("support_corporate",)),
}
ROLE_OF_ROLE_GROUP = {role: key for key, (_, roles) in ROLE_GROUPS.items() for role in roles}
GAP_HIGHER, GAP_LOWER = "leaders", "frontline"


def role_group_of(role: str | None) -> str | None:
    """The role group of a round role (None for no role or an unknown one)."""
    return ROLE_OF_ROLE_GROUP.get(role) if role else None


# --------------------------------------------------------------------------------------------
# Histograms and their summaries
# --------------------------------------------------------------------------------------------


def reason_text(reason: Reason, *, min_group: int) -> str:
    """Words for people: why a figure is not shown."""
    if reason is Reason.TOO_FEW:
        return f"not enough responses to show results (results appear from {min_group})"
    if reason is Reason.SUBTRACTION:
        return (
            "not enough responses to show results (hidden so that a smaller group's answers "
            "can't be worked out from the other results)"
        )
    if reason is Reason.TEAM_HIDDEN:
        return "not enough responses to show results (the team's results are not shown)"
    return "not enough answers to this question to show results"


# --------------------------------------------------------------------------------------------
# Figures (each may be suppressed: then it holds no data)
# --------------------------------------------------------------------------------------------


def _check(reason: Reason | None, data: object) -> None:
    if (reason is None) == (data is None):
        raise ValueError("a figure holds data exactly when it is shown")


@dataclass(frozen=True)
class QuestionResult:
    number: int
    question_id: str
    title: str
    component_number: int
    reason: Reason | None
    _histogram: LevelHistogram | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.reason, self._histogram)

    @classmethod
    def shown(
        cls, number: int, question_id: str, title: str, component: int, histogram: LevelHistogram
    ) -> QuestionResult:
        return cls(number, question_id, title, component, None, histogram)

    @classmethod
    def hidden(
        cls, number: int, question_id: str, title: str, component: int, reason: Reason
    ) -> QuestionResult:
        return cls(number, question_id, title, component, reason, None)

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def histogram(self) -> LevelHistogram | None:
        return self._histogram

    def answered(self) -> int | None:
        return None if self._histogram is None else self._histogram.total

    def median(self) -> float | None:
        return None if self._histogram is None else self._histogram.median

    def modal_share(self) -> float | None:
        return None if self._histogram is None else self._histogram.modal_share

    def iqr(self) -> float | None:
        return None if self._histogram is None else self._histogram.iqr


@dataclass(frozen=True)
class ComponentResult:
    """A component's figures, from its questions' answers pooled into one histogram."""

    number: int
    component_id: str
    name: str
    reason: Reason | None
    _histogram: LevelHistogram | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.reason, self._histogram)

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def histogram(self) -> LevelHistogram | None:
        return self._histogram

    def median(self) -> float | None:
        return None if self._histogram is None else self._histogram.median


@dataclass(frozen=True)
class GroupResult:
    """The figures of one group: the whole round, a team, or a role group in a team.

    `respondents` (a count) is always there; the figures are suppressed when `reason` is set.
    """

    group: GroupId
    label: str
    respondents: int
    reason: Reason | None
    questions: tuple[QuestionResult, ...]
    components: tuple[ComponentResult, ...]

    def __post_init__(self) -> None:
        if self.reason is not None and (
            any(not q.suppressed for q in self.questions)
            or any(not c.suppressed for c in self.components)
        ):
            raise ValueError("a suppressed group holds no figures")

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def question(self, number: int) -> QuestionResult:
        return next(q for q in self.questions if q.number == number)

    def component(self, number: int) -> ComponentResult:
        return next(c for c in self.components if c.number == number)

    def component_medians(self) -> tuple[tuple[ComponentResult, float | None], ...]:
        return tuple((c, c.median()) for c in self.components)

    def _ranked(self, *, highest_first: bool) -> list[QuestionResult]:
        sign = -1 if highest_first else 1

        def key(q: QuestionResult) -> tuple[float, float, int]:
            histogram = q.histogram()
            assert histogram is not None
            assert histogram.median is not None
            return (sign * histogram.median, sign * (histogram.mean or 0.0), q.number)

        return sorted((q for q in self.questions if q.histogram() is not None), key=key)

    def strongest_questions(self, count: int = 2) -> tuple[QuestionResult, ...]:
        """The highest-median shown questions (ties: higher mean, then lower number)."""
        return tuple(self._ranked(highest_first=True)[: max(count, 0)])

    def weakest_questions(self, count: int = 2) -> tuple[QuestionResult, ...]:
        """The lowest-median shown questions (ties: lower mean, then lower number), never
        repeating a strongest one."""
        strongest = {q.number for q in self.strongest_questions(count)}
        ranked = self._ranked(highest_first=False)
        return tuple(q for q in ranked if q.number not in strongest)[: max(count, 0)]


@dataclass(frozen=True)
class ComponentChange:
    """A component's median now minus its median in the previous round (same team)."""

    number: int
    name: str
    reason: Reason | None
    _previous: float | None = field(default=None, repr=False)
    _current: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.reason, self._previous)
        _check(self.reason, self._current)

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def previous(self) -> float | None:
        return self._previous

    def current(self) -> float | None:
        return self._current

    def delta(self) -> float | None:
        if self._previous is None or self._current is None:
            return None
        return self._current - self._previous


@dataclass(frozen=True)
class ComponentGap:
    """Perception gap: the leaders' median minus the frontline staff's median."""

    number: int
    name: str
    reason: Reason | None
    _leaders: float | None = field(default=None, repr=False)
    _frontline: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.reason, self._leaders)
        _check(self.reason, self._frontline)

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    def leaders(self) -> float | None:
        return self._leaders

    def frontline(self) -> float | None:
        return self._frontline

    def gap(self) -> float | None:
        if self._leaders is None or self._frontline is None:
            return None
        return self._leaders - self._frontline


@dataclass(frozen=True)
class Comment:
    """A comment as shown: the question it was left on and its text. Never who, never a role."""

    question_number: int
    text: str


@dataclass(frozen=True)
class TeamResult:
    team_id: int
    name: str
    roster: int
    figures: GroupResult
    role_groups: tuple[GroupResult, ...]
    previous_figures: GroupResult | None  # the same team in the previous round, if it took part
    comments_reason: Reason | None
    _comments: tuple[Comment, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.comments_reason, self._comments)

    @property
    def submitted(self) -> int:
        return self.figures.respondents

    @property
    def suppressed(self) -> bool:
        return self.figures.suppressed

    @property
    def reason(self) -> Reason | None:
        return self.figures.reason

    @property
    def response_rate(self) -> float | None:
        """Submitted ÷ the frozen roster (a count, always shown)."""
        return None if self.roster == 0 else self.submitted / self.roster

    def role_group(self, key: str) -> GroupResult | None:
        return next((g for g in self.role_groups if g.group.role == key), None)

    def comments(self) -> tuple[Comment, ...] | None:
        return self._comments

    def strongest_questions(self, count: int = 2) -> tuple[QuestionResult, ...]:
        return self.figures.strongest_questions(count)

    def weakest_questions(self, count: int = 2) -> tuple[QuestionResult, ...]:
        return self.figures.weakest_questions(count)

    def change_since_previous(self) -> tuple[ComponentChange, ...] | None:
        """Per component, the change in median since the previous round; None when the team has
        no previous round. A change is suppressed unless both medians are shown."""
        if self.previous_figures is None:
            return None
        changes = []
        for now in self.figures.components:
            before = self.previous_figures.component(now.number)
            current, previous = now.median(), before.median()
            if current is None or previous is None:
                reason = now.reason or before.reason or Reason.TOO_FEW
                changes.append(ComponentChange(now.number, now.name, reason))
            else:
                changes.append(ComponentChange(now.number, now.name, None, previous, current))
        return tuple(changes)

    def perception_gap(self) -> tuple[ComponentGap, ...] | None:
        """Per component, leaders' median minus frontline staff's; None when the round did not
        ask the role question or either group is not shown."""
        leaders, frontline = self.role_group(GAP_HIGHER), self.role_group(GAP_LOWER)
        if leaders is None or frontline is None or leaders.suppressed or frontline.suppressed:
            return None
        gaps = []
        for high, low in zip(leaders.components, frontline.components, strict=True):
            a, b = high.median(), low.median()
            if a is None or b is None:
                reason = high.reason or low.reason or Reason.TOO_FEW
                gaps.append(ComponentGap(high.number, high.name, reason))
            else:
                gaps.append(ComponentGap(high.number, high.name, None, a, b))
        if all(g.suppressed for g in gaps):
            return None
        return tuple(gaps)


@dataclass(frozen=True)
class RoundResults:
    round_id: int
    name: str
    role_question: bool
    previous_round_id: int | None
    previous_round_name: str | None
    min_group: int
    min_comment_group: int
    roster: int
    whole: GroupResult
    teams: tuple[TeamResult, ...]

    @property
    def submitted(self) -> int:
        return self.whole.respondents

    @property
    def response_rate(self) -> float | None:
        return None if self.roster == 0 else self.submitted / self.roster

    def team(self, team_id: int) -> TeamResult:
        for result in self.teams:
            if result.team_id == team_id:
                return result
        raise KeyError(f"team {team_id} is not in round {self.round_id}")

    def reason_text(self, reason: Reason) -> str:
        return reason_text(reason, min_group=self.min_group)

    def comments_reason_text(self, reason: Reason) -> str:
        if reason is Reason.TOO_FEW:
            return (
                "comments are shown only for teams with at least "
                f"{self.min_comment_group} responses"
            )
        return "comments are not shown, so that a smaller group's comments can't be singled out"


# --------------------------------------------------------------------------------------------
# Building results from aggregated rows
# --------------------------------------------------------------------------------------------
