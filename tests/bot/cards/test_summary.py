"""The team summary card: the Teams card rules, the figures in words beside the chart, and the
one clear sentence when a team's results are hidden."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from bot.cards.rounds.summary import summary_card
from framework.content import default_framework
from rounds.rules.histogram import LevelHistogram, format_level
from rounds.rules.results import Comment, RoundResults, level_label
from rounds.rules.round_results import RoundData, TeamData, build_round_results
from rounds.rules.summary import change_words, gap_words, response_line, summary_view
from tests.bot.cards.test_cards import ALLOWED_TYPES, MAX_CARD_BYTES, walk

pytestmark = pytest.mark.unit

FRAMEWORK = default_framework()
CHART_URL = "https://impact.example.nhs.uk/charts/0123456789abcdef0123456789abcdef.png"

Levels = Callable[[int], int | None]
Person = tuple[str | None, Levels]  # (role group, level per question)


def flat(level: int | None) -> Levels:
    return lambda _q: level


def by_component(levels: Mapping[int, int]) -> Levels:
    return lambda q: levels[FRAMEWORK.component_of(q).number]


def make_results(
    teams: Mapping[str, tuple[int, Sequence[Person]]],
    *,
    name: str = "Autumn 2026",
    round_id: int = 2,
    role_question: bool = False,
    previous: RoundResults | None = None,
    comments: Mapping[str, Sequence[str]] | None = None,
    min_group: int = 5,
    min_comment_group: int = 10,
) -> RoundResults:
    """Round results from people listed per team (each in one team), counted in Python the way
    the SQL counts them."""
    ids = {team: i for i, team in enumerate(teams, start=1)}
    respondents: Counter[tuple[frozenset[int], str | None]] = Counter()
    levels: dict[tuple[Any, ...], Counter[int]] = {}
    for team, (_, people) in teams.items():
        for role_group, answers in people:
            respondents[(frozenset({ids[team]}), role_group)] += 1
            for q in FRAMEWORK.questions:
                level = answers(q.number)
                if level is None:
                    continue
                keys: list[tuple[Any, ...]] = [("round", q.number), ("team", ids[team], q.number)]
                if role_group:
                    keys.append(("role", ids[team], role_group, q.number))
                for key in keys:
                    levels.setdefault(key, Counter())[level] += 1
    histograms = {key: LevelHistogram.from_levels(c) for key, c in levels.items()}
    data = RoundData(
        round_id=round_id,
        name=name,
        role_question=role_question,
        previous_round_id=previous.round_id if previous else None,
        roster=sum(roster for roster, _ in teams.values()),
        teams=tuple(
            TeamData(ids[t], t, roster, len(people)) for t, (roster, people) in teams.items()
        ),
        respondents=dict(respondents),
        round_histograms={k[1]: h for k, h in histograms.items() if k[0] == "round"},
        team_histograms={(k[1], k[2]): h for k, h in histograms.items() if k[0] == "team"},
        role_histograms={(k[1], k[2], k[3]): h for k, h in histograms.items() if k[0] == "role"},
    )
    return build_round_results(
        FRAMEWORK,
        data,
        min_group=min_group,
        min_comment_group=min_comment_group,
        comments={
            ids[t]: [Comment(1, text) for text in texts] for t, texts in (comments or {}).items()
        },
        previous=previous,
    )


def assert_teams_rules(card: dict[str, Any]) -> None:
    """The rules tests/test_cards.py checks for every card."""
    assert card["type"] == "AdaptiveCard"
    assert float(card["version"]) <= 1.5
    assert len(json.dumps(card).encode()) < MAX_CARD_BYTES
    for element in walk(card):
        assert element["type"] in ALLOWED_TYPES, element["type"]
        if element["type"].startswith("Action."):
            assert element.get("title"), "every button says what it does"
        if element["type"] == "Action.Execute":
            assert element["fallback"]["type"] == "Action.Submit"
            assert element["fallback"]["data"] == element["data"]
            assert element["data"]["verb"] == element["verb"]
        if element["type"] == "TextBlock":
            assert element.get("wrap") is True, "text wraps on a phone"
        if element["type"].startswith("Input."):
            assert element.get("label"), "inputs are labelled for screen readers"
        if element["type"] == "Image":
            assert element.get("altText"), "images say what they show"
        assert "color" not in element, "meaning is never carried by colour"


SPRING_LEVELS = by_component({1: 2, 2: 3, 3: 3, 4: 4, 5: 2})
LEADERS = by_component({1: 4, 2: 3, 3: 3, 4: 4, 5: 2})
FRONTLINE = by_component({1: 2, 2: 3, 3: 4, 4: 4, 5: 2})


def autumn_with_everything() -> RoundResults:
    spring = make_results({"Ward 7": (20, [(None, SPRING_LEVELS)] * 8)}, name="Spring 2026")
    people: list[Person] = [("leaders", LEADERS)] * 7 + [("frontline", FRONTLINE)] * 7
    return make_results(
        {"Ward 7": (20, people)}, role_question=True, previous=spring, name="Autumn 2026"
    )


def texts(card: dict[str, Any]) -> list[str]:
    found = [e.get("text", "") for e in walk(card) if e["type"] == "TextBlock"]
    for element in walk(card):
        if element["type"] == "FactSet":
            found += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return found


def test_summary_card_keeps_the_teams_rules_shown_and_hidden() -> None:
    results = autumn_with_everything()
    shown = summary_card(summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL, chart_alt="x"))
    hidden_results = make_results({"Ward 8": (7, [(None, flat(3))] * 4)})
    hidden = summary_card(summary_view(hidden_results, 1, FRAMEWORK, chart_url=CHART_URL))
    for card in (shown, hidden):
        assert_teams_rules(card)


def test_summary_card_shows_the_figures_in_words_beside_the_chart() -> None:
    results = autumn_with_everything()
    team = results.team(1)
    view = summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL, chart_alt="Bar chart …")
    card = summary_card(view)
    lines = texts(card)
    assert lines[0] == "Autumn 2026: results"
    assert "Ward 7" in lines
    assert "Responses: **14 of 20 (70%)**" in lines

    image = next(e for e in walk(card) if e["type"] == "Image")
    assert image["url"] == CHART_URL
    assert image["altText"] == "Bar chart …"

    # The same numbers as the chart, in words, in a FactSet.
    facts = next(e for e in walk(card) if e["type"] == "FactSet")["facts"]
    for fact, component in zip(facts, team.figures.components, strict=True):
        median = component.median()
        assert median is not None
        assert fact == {
            "title": component.name,
            "value": f"{format_level(median)} · {level_label(FRAMEWORK, median)}",
        }
    assert facts[0]["value"] == "3 · Progressing"
    assert facts[2]["value"] == "3.5 · Progressing to Spreading"

    # The two strongest and the two weakest questions.
    assert len(view.strongest) == 2
    assert len(view.weakest) == 2
    assert [q.number for q in view.strongest] == [q.number for q in team.strongest_questions()]
    assert not {q.number for q in view.strongest} & {q.number for q in view.weakest}
    joined = "\n".join(lines)
    for question in view.strongest + view.weakest:
        assert f"(Q{question.number})" in joined

    # Change since spring, with arrows and words.
    assert "Change since Spring 2026" in lines
    assert "Building a shared purpose and vision: ▲ up 1 level (2 → 3)" in lines
    assert "Embedding into management systems and processes: = no change (2)" in lines
    assert "Developing leadership behaviours: ▲ up 0.5 levels (3 → 3.5)" in lines

    # The perception gap: leaders minus frontline.
    assert "Leaders compared with frontline staff" in lines
    assert (
        "Building a shared purpose and vision: Leaders higher by 2 levels (leaders 4, frontline 2)"
        in lines
    )
    assert (
        "Developing leadership behaviours: Frontline higher by 1 level (leaders 3, frontline 4)"
        in lines
    )

    # "Full results" with the round and team.
    (action,) = card["actions"]
    assert action["title"] == "Full results"
    assert action["verb"] == "results"
    assert action["data"] == {"verb": "results", "round_id": 2, "team_id": 1}


def test_hidden_team_gets_one_clear_sentence_and_no_figures() -> None:
    results = make_results({"Ward 8": (7, [(None, flat(3))] * 4)})
    view = summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL, chart_alt="should not show")
    assert view.suppressed
    assert (view.components, view.strongest, view.weakest, view.changes, view.gaps) == (
        (),
        (),
        (),
        (),
        (),
    )
    card = summary_card(view)
    text = json.dumps(card, ensure_ascii=False)
    assert "Not enough responses to show results (4 of 7 responded; results appear from 5)" in text
    assert "Responses: **4 of 7 (57%)**" in text
    assert "Image" not in text
    assert CHART_URL not in text
    assert "FactSet" not in text
    assert "actions" not in card
    assert "Progressing" not in text


def test_a_round_without_history_or_roles_keeps_the_card_short() -> None:
    results = make_results({"Ward 9": (6, [(None, flat(4))] * 5)})
    card = summary_card(summary_view(results, 1, FRAMEWORK, chart_url=None))
    lines = texts(card)
    assert not any(line.startswith("Change since") for line in lines)
    assert "Leaders compared with frontline staff" not in lines
    assert not [e for e in walk(card) if e["type"] == "Image"]
    assert len(card["body"]) <= 16


def test_gap_is_left_out_when_either_group_is_hidden() -> None:
    people: list[Person] = [("leaders", LEADERS)] * 9 + [("frontline", FRONTLINE)] * 3
    results = make_results({"Ward 7": (15, people)}, role_question=True)
    view = summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL)
    assert not view.suppressed
    assert view.gaps == ()
    assert "Leaders" not in json.dumps(summary_card(view))


@pytest.mark.parametrize(
    ("submitted", "roster", "line"),
    [(14, 20, "14 of 20 (70%)"), (2, 3, "2 of 3 (67%)"), (0, 0, "0 of 0"), (5, 5, "5 of 5 (100%)")],
)
def test_response_line(submitted: int, roster: int, line: str) -> None:
    assert response_line(submitted, roster) == line


def test_change_and_gap_words() -> None:
    assert change_words(2, 3.5) == "▲ up 1.5 levels (2 → 3.5)"
    assert change_words(4, 3) == "▼ down 1 level (4 → 3)"
    assert change_words(3, 3) == "= no change (3)"
    assert gap_words(3, 3) == "Same view (leaders 3, frontline 3)"
    assert gap_words(2.5, 3) == "Frontline higher by 0.5 levels (leaders 2.5, frontline 3)"
