"""A closed round's results as frozen rows, and back: the results are computed once, when the
round closes, and every later view and export reads these rows (`store.rounds.frozen`).

A round's results are split into one row per *scope*: the round itself (its facts and the whole
round's figures), each team (its facts, figures, comments shown, previous round's figures) and
each role group in a team. Each row's payload is canonical JSON (sorted keys, no spaces), so the
same results always give the same text, and text read back gives the same `RoundResults`.

Only what the anonymity rules let be shown is in the rows: a suppressed figure is frozen as its
reason, never with its data, exactly as `rounds.rules.results` builds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rounds.rules.anonymity import GroupId, Reason
from rounds.rules.histogram import LevelHistogram
from rounds.rules.results import (
    Comment,
    ComponentResult,
    GroupResult,
    QuestionResult,
    RoundResults,
    TeamResult,
)

__all__ = ["ROUND_SCOPE", "from_rows", "role_scope", "team_scope", "to_rows"]

ROUND_SCOPE = "round"
FORMAT = 1


def team_scope(team_id: int) -> str:
    return f"team:{team_id}"


def role_scope(team_id: int, role: str) -> str:
    return f"team:{team_id}:role:{role}"


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _reason(reason: Reason | None) -> str | None:
    return None if reason is None else reason.value


def _counts(histogram: LevelHistogram | None) -> list[int] | None:
    return None if histogram is None else list(histogram.counts)


def _histogram(counts: list[int] | None) -> LevelHistogram | None:
    if counts is None:
        return None
    a, b, c, d, e = (int(x) for x in counts)
    return LevelHistogram((a, b, c, d, e))


def _group(group: GroupResult) -> dict[str, Any]:
    return {
        "group": [group.group.kind, group.group.team, group.group.role],
        "label": group.label,
        "respondents": group.respondents,
        "reason": _reason(group.reason),
        "questions": [
            [
                q.number,
                q.question_id,
                q.title,
                q.component_number,
                _reason(q.reason),
                _counts(q.histogram()),
            ]
            for q in group.questions
        ],
        "components": [
            [c.number, c.component_id, c.name, _reason(c.reason), _counts(c.histogram())]
            for c in group.components
        ],
    }


def _group_back(data: Mapping[str, Any]) -> GroupResult:
    kind, team, role = data["group"]
    return GroupResult(
        group=GroupId(kind, team, role),
        label=data["label"],
        respondents=int(data["respondents"]),
        reason=_reason_back(data["reason"]),
        questions=tuple(
            QuestionResult(int(n), qid, title, int(comp), _reason_back(r), _histogram(counts))
            for n, qid, title, comp, r, counts in data["questions"]
        ),
        components=tuple(
            ComponentResult(int(n), cid, name, _reason_back(r), _histogram(counts))
            for n, cid, name, r, counts in data["components"]
        ),
    )


def _reason_back(value: str | None) -> Reason | None:
    return None if value is None else Reason(value)


def to_rows(results: RoundResults) -> dict[str, str]:
    """The results as {scope: canonical JSON}."""
    rows = {
        ROUND_SCOPE: _dumps(
            {
                "format": FORMAT,
                "round_id": results.round_id,
                "name": results.name,
                "role_question": results.role_question,
                "previous_round_id": results.previous_round_id,
                "previous_round_name": results.previous_round_name,
                "min_group": results.min_group,
                "min_comment_group": results.min_comment_group,
                "roster": results.roster,
                "whole": _group(results.whole),
                "teams": [t.team_id for t in results.teams],
            }
        )
    }
    for team in results.teams:
        comments = team.comments()
        rows[team_scope(team.team_id)] = _dumps(
            {
                "team_id": team.team_id,
                "name": team.name,
                "roster": team.roster,
                "figures": _group(team.figures),
                "roles": [g.group.role for g in team.role_groups],
                "previous_figures": None
                if team.previous_figures is None
                else _group(team.previous_figures),
                "comments_reason": _reason(team.comments_reason),
                "comments": None
                if comments is None
                else [[c.question_number, c.text] for c in comments],
            }
        )
        for group in team.role_groups:
            assert group.group.role is not None
            rows[role_scope(team.team_id, group.group.role)] = _dumps(_group(group))
    return rows


def from_rows(rows: Mapping[str, str]) -> RoundResults:
    """The results frozen as `to_rows` wrote them (KeyError if a row is missing)."""
    head = json.loads(rows[ROUND_SCOPE])
    if head.get("format") != FORMAT:
        raise ValueError(f"frozen results in format {head.get('format')!r}, not {FORMAT}")
    teams = []
    for team_id in head["teams"]:
        data = json.loads(rows[team_scope(team_id)])
        comments = data["comments"]
        teams.append(
            TeamResult(
                team_id=int(data["team_id"]),
                name=data["name"],
                roster=int(data["roster"]),
                figures=_group_back(data["figures"]),
                role_groups=tuple(
                    _group_back(json.loads(rows[role_scope(team_id, role)]))
                    for role in data["roles"]
                ),
                previous_figures=None
                if data["previous_figures"] is None
                else _group_back(data["previous_figures"]),
                comments_reason=_reason_back(data["comments_reason"]),
                _comments=None
                if comments is None
                else tuple(Comment(int(q), str(text)) for q, text in comments),
            )
        )
    return RoundResults(
        round_id=int(head["round_id"]),
        name=head["name"],
        role_question=bool(head["role_question"]),
        previous_round_id=head["previous_round_id"],
        previous_round_name=head["previous_round_name"],
        min_group=int(head["min_group"]),
        min_comment_group=int(head["min_comment_group"]),
        roster=int(head["roster"]),
        whole=_group_back(head["whole"]),
        teams=tuple(teams),
    )
