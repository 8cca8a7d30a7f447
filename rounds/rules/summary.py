"""The team summary card's view model, built from a round's results.

`summary_view` reads the results only through their accessors, so a hidden group yields a view
with no figures at all: the card cannot show what the view does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from framework.content import Framework
from rounds.rules.histogram import format_level
from rounds.rules.results import RoundResults, TeamResult, level_label

__all__ = [
    "ChangeFact",
    "ComponentFact",
    "EvidenceFact",
    "GapFact",
    "QuestionFact",
    "SummaryView",
    "change_words",
    "gap_words",
    "response_line",
    "summary_view",
]


@dataclass(frozen=True)
class ComponentFact:
    name: str
    text: str  # "3.5 · Progressing to Spreading", or why it is not shown


@dataclass(frozen=True)
class QuestionFact:
    number: int
    title: str
    text: str  # "4 · Spreading"


@dataclass(frozen=True)
class ChangeFact:
    name: str
    text: str  # "▲ up 0.5 (3 → 3.5)"


@dataclass(frozen=True)
class GapFact:
    name: str
    text: str  # "Leaders 1 level higher (4 and 3)"


@dataclass(frozen=True)
class EvidenceFact:
    """What the bot's own records say beside a question's self-assessment (e.g. huddles held,
    for question 18): evidence for the team to weigh, never part of anyone's answer."""

    number: int
    title: str
    text: str  # "Held 11 of 12 scheduled huddles in the last quarter"


def evidence_facts(
    framework: Framework, evidence: tuple[tuple[int, str], ...]
) -> tuple[EvidenceFact, ...]:
    """(question number, line) pairs → facts with the question's title, in question order."""
    return tuple(
        EvidenceFact(number, framework.question(number).title, line)
        for number, line in sorted(evidence)
    )


@dataclass(frozen=True)
class SummaryView:
    round_id: int
    team_id: int
    round_name: str
    team_name: str
    submitted: int
    roster: int
    min_group: int
    suppressed: bool
    chart_url: str | None = None
    chart_alt: str = ""
    components: tuple[ComponentFact, ...] = ()
    strongest: tuple[QuestionFact, ...] = ()
    weakest: tuple[QuestionFact, ...] = ()
    previous_round_name: str | None = None
    changes: tuple[ChangeFact, ...] = ()
    gaps: tuple[GapFact, ...] = ()
    scale: str = ""  # "1 Starting, 2 Developing, …"
    evidence: tuple[EvidenceFact, ...] = ()

    @property
    def responses(self) -> str:
        return response_line(self.submitted, self.roster)

    @property
    def not_enough(self) -> str:
        return (
            f"Not enough responses to show results ({self.submitted} of {self.roster} "
            f"responded; results appear from {self.min_group})"
        )


def response_line(submitted: int, roster: int) -> str:
    """ "14 of 20 (70%)"."""
    if roster <= 0:
        return f"{submitted} of {roster}"
    return f"{submitted} of {roster} ({round(100 * submitted / roster)}%)"


def _level(framework: Framework, value: float) -> str:
    return f"{format_level(value)} · {level_label(framework, value)}"


def _plural(value: float) -> str:
    return "level" if value == 1 else "levels"


def change_words(previous: float, current: float) -> str:
    delta = current - previous
    span = f"({format_level(previous)} → {format_level(current)})"
    if delta > 0:
        return f"▲ up {format_level(delta)} {_plural(delta)} {span}"
    if delta < 0:
        return f"▼ down {format_level(-delta)} {_plural(-delta)} {span}"
    return f"= no change ({format_level(current)})"


def gap_words(leaders: float, frontline: float) -> str:
    gap = leaders - frontline
    both = f"(leaders {format_level(leaders)}, frontline {format_level(frontline)})"
    if gap > 0:
        return f"Leaders higher by {format_level(gap)} {_plural(gap)} {both}"
    if gap < 0:
        return f"Frontline higher by {format_level(-gap)} {_plural(-gap)} {both}"
    return f"Same view {both}"


def _question_facts(
    team: TeamResult, framework: Framework, strongest: bool
) -> tuple[QuestionFact, ...]:
    chosen = team.strongest_questions() if strongest else team.weakest_questions()
    facts = []
    for question in chosen:
        median = question.median()
        if median is not None:
            facts.append(QuestionFact(question.number, question.title, _level(framework, median)))
    return tuple(facts)


def summary_view(
    results: RoundResults,
    team_id: int,
    framework: Framework,
    *,
    chart_url: str | None,
    chart_alt: str = "",
    evidence: tuple[tuple[int, str], ...] = (),
) -> SummaryView:
    """The summary of one team in a round. `chart_url` is where the chart PNG is served
    (``{public_url}/charts/{token}.png``); None for no image. `evidence`: (question number,
    line) from the bot's other records, shown beside the results (even when these are
    hidden: it says nothing about anyone's answers)."""
    team = results.team(team_id)
    base = SummaryView(
        round_id=results.round_id,
        team_id=team.team_id,
        round_name=results.name,
        team_name=team.name,
        submitted=team.submitted,
        roster=team.roster,
        min_group=results.min_group,
        suppressed=True,
        evidence=evidence_facts(framework, evidence),
    )
    if team.suppressed or all(c.median() is None for c in team.figures.components):
        return base

    changes = _changes(team)
    return replace(
        base,
        suppressed=False,
        chart_url=chart_url,
        chart_alt=chart_alt,
        components=_components(team, framework),
        strongest=_question_facts(team, framework, strongest=True),
        weakest=_question_facts(team, framework, strongest=False),
        previous_round_name=results.previous_round_name if changes else None,
        changes=changes,
        gaps=_gaps(team),
        scale=", ".join(f"{level.value} {level.name}" for level in framework.levels),
    )


def _components(team: TeamResult, framework: Framework) -> tuple[ComponentFact, ...]:
    facts = []
    for component in team.figures.components:
        median = component.median()
        text = "not enough answers" if median is None else _level(framework, median)
        facts.append(ComponentFact(component.name, text))
    return tuple(facts)


def _changes(team: TeamResult) -> tuple[ChangeFact, ...]:
    changes: list[ChangeFact] = []
    for change in team.change_since_previous() or ():
        previous, current = change.previous(), change.current()
        if previous is None or current is None:
            changes.append(ChangeFact(change.name, "not enough responses to compare"))
        else:
            changes.append(ChangeFact(change.name, change_words(previous, current)))
    return tuple(changes)


def _gaps(team: TeamResult) -> tuple[GapFact, ...]:
    gaps: list[GapFact] = []
    for gap in team.perception_gap() or ():
        leaders, frontline = gap.leaders(), gap.frontline()
        if leaders is None or frontline is None:
            gaps.append(GapFact(gap.name, "not enough answers to compare"))
        else:
            gaps.append(GapFact(gap.name, gap_words(leaders, frontline)))
    return tuple(gaps)
