"""Building a round's results from its data: the anonymity decisions, then every group's figures."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from framework.content import Framework
from rounds.rules import anonymity
from rounds.rules.anonymity import ROUND, Disclosure, GroupId, Reason
from rounds.rules.histogram import LevelHistogram
from rounds.rules.results import (
    ROLE_GROUPS,
    Comment,
    ComponentResult,
    GroupResult,
    QuestionResult,
    RoundResults,
    TeamResult,
)


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
    # Figures are per-person sums (level histograms): the linear rule shows every group that no
    # combination of shown figures can narrow to fewer than `min_group` people (proof in
    # anonymity.decide; checked by an exact attacker in tests/rounds/rules), and hides far
    # fewer teams where staff belong to two teams. Comments are not sums: atoms rule.
    figures = anonymity.decide(
        anonymity.cells_for_round(respondents), min_size=min_group, groups=groups, rule="linear"
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


@dataclass(frozen=True)
class _Indexed:
    """Each team's and role group's histograms, indexed once (a scan of every row per team grew
    with the square of the number of teams: 12 s of 15 s at 300 teams)."""

    by_team: dict[int, dict[int, LevelHistogram]]
    by_role: dict[tuple[int, str], dict[int, LevelHistogram]]


def _index_histograms(data: RoundData) -> _Indexed:
    by_team: dict[int, dict[int, LevelHistogram]] = {}
    for (t, q), histogram in data.team_histograms.items():
        by_team.setdefault(t, {})[q] = histogram
    by_role: dict[tuple[int, str], dict[int, LevelHistogram]] = {}
    for (t, r, q), histogram in data.role_histograms.items():
        by_role.setdefault((t, r), {})[q] = histogram
    return _Indexed(by_team, by_role)


def _role_groups(
    framework: Framework,
    data: RoundData,
    team_id: int,
    decisions: RoundDecisions,
    indexed: _Indexed,
    *,
    min_group: int,
) -> tuple[GroupResult, ...]:
    """A team's role groups' figures (none when the round has no role question)."""
    if not data.role_question:
        return ()
    role_groups: list[GroupResult] = []
    for role_key, (label, _) in ROLE_GROUPS.items():
        group = anonymity.role(team_id, role_key)
        role_histograms = indexed.by_role.get((team_id, role_key), {})
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
    return tuple(role_groups)


def _previous_figures(previous: RoundResults | None, team_id: int) -> GroupResult | None:
    if previous is None:
        return None
    previous_team = next((t for t in previous.teams if t.team_id == team_id), None)
    return previous_team.figures if previous_team else None


def _team_result(
    framework: Framework,
    data: RoundData,
    info: TeamData,
    decisions: RoundDecisions,
    indexed: _Indexed,
    sizes: Mapping[GroupId, int],
    comments: Mapping[int, Sequence[Comment]],
    previous: RoundResults | None,
    *,
    min_group: int,
) -> TeamResult:
    key = anonymity.team(info.team_id)
    if sizes[key] != info.submitted:
        raise ValueError(
            f"team {info.team_id}: {info.submitted} submitted but {sizes[key]} respondents"
        )
    team_histograms = indexed.by_team.get(info.team_id, {})
    figures = _group_result(
        framework, key, info.name, decisions.figures[key], team_histograms, min_group=min_group
    )
    role_groups = _role_groups(
        framework, data, info.team_id, decisions, indexed, min_group=min_group
    )
    comment_decision = decisions.comments[info.team_id]
    shown_comments = (
        shuffle_comments(comments.get(info.team_id, ()), salt=f"{data.round_id}:{info.team_id}")
        if comment_decision.shown
        else None
    )
    return TeamResult(
        team_id=info.team_id,
        name=info.name,
        roster=info.roster,
        figures=figures,
        role_groups=role_groups,
        previous_figures=_previous_figures(previous, info.team_id),
        comments_reason=comment_decision.reason,
        _comments=shown_comments,
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
    indexed = _index_histograms(data)
    teams = tuple(
        _team_result(
            framework,
            data,
            info,
            decisions,
            indexed,
            sizes,
            comments or {},
            previous,
            min_group=min_group,
        )
        for info in data.teams
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
        teams=teams,
    )
