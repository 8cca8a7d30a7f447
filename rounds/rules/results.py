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

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from framework.content import Framework
from framework.scoring import level_label
from rounds.rules import anonymity
from rounds.rules.anonymity import ROUND, Disclosure, GroupId, Reason

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
    "RoundData",
    "RoundResults",
    "TeamData",
    "TeamResult",
    "build_round_results",
    "decide_round",
    "format_level",
    "level_label",
    "reason_text",
    "role_group_of",
    "shuffle_comments",
]

LEVEL_COUNT = 5

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


@dataclass(frozen=True)
class LevelHistogram:
    """How many answers at each level 1..5 (``counts[0]`` is level 1)."""

    counts: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def __post_init__(self) -> None:
        if len(self.counts) != LEVEL_COUNT or any(
            not isinstance(c, int) or c < 0 for c in self.counts
        ):
            raise ValueError(f"expected five non-negative counts, got {self.counts!r}")

    @classmethod
    def from_levels(cls, levels: Mapping[int, int]) -> Self:
        """From ``{level: count}``; levels outside 1..5 are an error."""
        counts = [0] * LEVEL_COUNT
        for level, count in levels.items():
            if not 1 <= level <= LEVEL_COUNT:
                raise ValueError(f"level {level} is outside 1..{LEVEL_COUNT}")
            counts[level - 1] += count
        return cls((counts[0], counts[1], counts[2], counts[3], counts[4]))

    def __add__(self, other: LevelHistogram) -> LevelHistogram:
        a, b = self.counts, other.counts
        return LevelHistogram((a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def _order_statistic(self, index: int) -> int:
        """The level of the index-th answer (0-based) when all answers are sorted."""
        seen = 0
        for level, count in enumerate(self.counts, start=1):
            seen += count
            if index < seen:
                return level
        raise IndexError(index)

    def quantile(self, p: float) -> float | None:
        """The p-quantile (0 ≤ p ≤ 1), interpolating between order statistics (the "inclusive"
        method of `statistics.quantiles`, numpy's default); None when empty."""
        if not 0 <= p <= 1:
            raise ValueError("p must be in [0, 1]")
        n = self.total
        if n == 0:
            return None
        position = (n - 1) * p
        low = math.floor(position)
        high = min(low + 1, n - 1)
        fraction = position - low
        lo, hi = self._order_statistic(low), self._order_statistic(high)
        return lo + (hi - lo) * fraction

    @property
    def median(self) -> float | None:
        return self.quantile(0.5)

    @property
    def q1(self) -> float | None:
        return self.quantile(0.25)

    @property
    def q3(self) -> float | None:
        return self.quantile(0.75)

    @property
    def iqr(self) -> float | None:
        q1, q3 = self.q1, self.q3
        return None if q1 is None or q3 is None else q3 - q1

    @property
    def modal_levels(self) -> tuple[int, ...]:
        """The most frequent level(s); empty when there are no answers."""
        top = max(self.counts)
        return () if top == 0 else tuple(i + 1 for i, c in enumerate(self.counts) if c == top)

    @property
    def modal_share(self) -> float | None:
        """Agreement: the share of answers at the most frequent level (0..1)."""
        n = self.total
        return None if n == 0 else max(self.counts) / n

    @property
    def mean(self) -> float | None:
        n = self.total
        return None if n == 0 else sum(i * c for i, c in enumerate(self.counts, start=1)) / n


def format_level(value: float) -> str:
    """3.0 → "3", 3.5 → "3.5", 3.25 → "3.25"."""
    return f"{round(value, 2):g}"


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


@dataclass(frozen=True)
class TeamData:
    team_id: int
    name: str
    roster: int
    submitted: int


@dataclass(frozen=True)
class RoundData:
    """What the SQL returns for a round: counts and histograms only, never a person."""

    round_id: int
    name: str
    role_question: bool
    previous_round_id: int | None
    roster: int
    teams: tuple[TeamData, ...]
    # Respondents keyed by (their teams in this round, their role group or None).
    respondents: Mapping[tuple[frozenset[int], str | None], int]
    # {question number: {level: count}} for the whole round, per team, per (team, role group).
    round_histograms: Mapping[int, LevelHistogram]
    team_histograms: Mapping[tuple[int, int], LevelHistogram]
    role_histograms: Mapping[tuple[int, str, int], LevelHistogram]


@dataclass(frozen=True)
class RoundDecisions:
    figures: dict[GroupId, Disclosure]
    comments: dict[int, Disclosure]

    def comments_allowed(self) -> tuple[int, ...]:
        return tuple(sorted(t for t, d in self.comments.items() if d.shown))


def decide_round(data: RoundData, *, min_group: int, min_comment_group: int) -> RoundDecisions:
    """The anonymity decisions for a round: which groups' figures and which teams' comments."""
    respondents: Mapping[tuple[frozenset[int], str | None], int] = data.respondents
    if not data.role_question:  # no role groups: only the teams matter
        without_roles: Counter[tuple[frozenset[int], str | None]] = Counter()
        for (teams, _), n in data.respondents.items():
            without_roles[(teams, None)] += n
        respondents = without_roles
    groups = [ROUND, *(anonymity.team(t.team_id) for t in data.teams)]
    if data.role_question:
        groups += [anonymity.role(t.team_id, key) for t in data.teams for key in ROLE_GROUPS]
    figures = anonymity.decide(
        anonymity.cells_for_round(respondents), min_size=min_group, groups=groups
    )
    by_teams: Counter[frozenset[int]] = Counter()
    for (teams, _), n in data.respondents.items():
        by_teams[teams] += n
    comments = anonymity.decide_comments(
        by_teams, min_size=min_comment_group, teams=[t.team_id for t in data.teams]
    )
    return RoundDecisions(figures, comments)


def shuffle_comments(comments: Iterable[Comment], *, salt: str) -> tuple[Comment, ...]:
    """Comments in an order that says nothing about who wrote them or when: sorted by a hash of
    their text (stable, so a card drawn twice reads the same)."""

    def key(comment: Comment) -> str:
        raw = f"{salt}\x00{comment.question_number}\x00{comment.text}".encode()
        return hashlib.sha256(raw).hexdigest()

    return tuple(sorted(comments, key=key))


def _group_result(
    framework: Framework,
    group: GroupId,
    label: str,
    decision: Disclosure,
    histograms: Mapping[int, LevelHistogram],
    *,
    min_group: int,
) -> GroupResult:
    questions: list[QuestionResult] = []
    components: list[ComponentResult] = []
    for component in framework.components:
        pooled = LevelHistogram()
        most_answers = 0
        for q in component.questions:
            histogram = histograms.get(q.number, LevelHistogram())
            pooled = pooled + histogram
            most_answers = max(most_answers, histogram.total)
            if decision.reason is not None:
                questions.append(
                    QuestionResult.hidden(
                        q.number, q.id, q.title, component.number, decision.reason
                    )
                )
            elif histogram.total < min_group:
                questions.append(
                    QuestionResult.hidden(
                        q.number, q.id, q.title, component.number, Reason.TOO_FEW_ANSWERS
                    )
                )
            else:
                questions.append(
                    QuestionResult.shown(q.number, q.id, q.title, component.number, histogram)
                )
        # At least `min_group` different people answered the component when one of its questions
        # alone had that many answers.
        if decision.reason is not None:
            components.append(
                ComponentResult(component.number, component.id, component.name, decision.reason)
            )
        elif most_answers < min_group:
            components.append(
                ComponentResult(
                    component.number, component.id, component.name, Reason.TOO_FEW_ANSWERS
                )
            )
        else:
            components.append(
                ComponentResult(component.number, component.id, component.name, None, pooled)
            )
    return GroupResult(
        group=group,
        label=label,
        respondents=decision.n,
        reason=decision.reason,
        questions=tuple(questions),
        components=tuple(components),
    )


def build_round_results(
    framework: Framework,
    data: RoundData,
    *,
    min_group: int,
    min_comment_group: int,
    decisions: RoundDecisions | None = None,
    comments: Mapping[int, Sequence[Comment]] | None = None,
    previous: RoundResults | None = None,
) -> RoundResults:
    """Apply the anonymity rules to a round's aggregated rows and build its results.

    `comments` is per team and is used only for teams whose comments may be shown (the store
    fetches no others). `previous` is the previous round's results (for the change per component).
    """
    decisions = decisions or decide_round(
        data, min_group=min_group, min_comment_group=min_comment_group
    )
    sizes = anonymity.group_sizes(anonymity.cells_for_round(data.respondents))
    whole = _group_result(
        framework,
        ROUND,
        "All teams",
        decisions.figures[ROUND],
        data.round_histograms,
        min_group=min_group,
    )
    if whole.respondents != sum(data.respondents.values()):
        raise ValueError("inconsistent respondent counts")
    comments = comments or {}
    teams: list[TeamResult] = []
    for info in data.teams:
        key = anonymity.team(info.team_id)
        if sizes[key] != info.submitted:
            raise ValueError(
                f"team {info.team_id}: {info.submitted} submitted but {sizes[key]} respondents"
            )
        team_histograms = {q: h for (t, q), h in data.team_histograms.items() if t == info.team_id}
        figures = _group_result(
            framework, key, info.name, decisions.figures[key], team_histograms, min_group=min_group
        )
        role_groups: list[GroupResult] = []
        if data.role_question:
            for role_key, (label, _) in ROLE_GROUPS.items():
                group = anonymity.role(info.team_id, role_key)
                role_histograms = {
                    q: h
                    for (t, r, q), h in data.role_histograms.items()
                    if t == info.team_id and r == role_key
                }
                role_groups.append(
                    _group_result(
                        framework,
                        group,
                        label,
                        decisions.figures[group],
                        role_histograms,
                        min_group=min_group,
                    )
                )
        comment_decision = decisions.comments[info.team_id]
        shown_comments = (
            shuffle_comments(comments.get(info.team_id, ()), salt=f"{data.round_id}:{info.team_id}")
            if comment_decision.shown
            else None
        )
        previous_figures = None
        if previous is not None:
            previous_team = next((t for t in previous.teams if t.team_id == info.team_id), None)
            previous_figures = previous_team.figures if previous_team else None
        teams.append(
            TeamResult(
                team_id=info.team_id,
                name=info.name,
                roster=info.roster,
                figures=figures,
                role_groups=tuple(role_groups),
                previous_figures=previous_figures,
                comments_reason=comment_decision.reason,
                _comments=shown_comments,
            )
        )
    return RoundResults(
        round_id=data.round_id,
        name=data.name,
        role_question=data.role_question,
        previous_round_id=data.previous_round_id,
        previous_round_name=previous.name if previous else None,
        min_group=min_group,
        min_comment_group=min_comment_group,
        roster=data.roster,
        whole=whole,
        teams=tuple(teams),
    )
