"""Card builders are pure functions of view models; these check the rules every card keeps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.cards import assessment as cards
from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    LevelChoice,
    NoticeView,
    ProfileLine,
    ProfileView,
    QuestionView,
    ReviewRow,
    ReviewSection,
    ReviewView,
    SettledView,
    WelcomeView,
)
from bot.cards.rounds import admin as admin_cards
from bot.cards.rounds.invitation import invitation_card, role_card
from framework.content import default_framework
from rounds.rules.roles import ROLES
from rounds.rules.views import InvitationView

pytestmark = pytest.mark.unit

# Elements and actions Teams renders on desktop, web, iOS and Android at schema 1.5.
ALLOWED_TYPES = {
    "AdaptiveCard", "TextBlock", "RichTextBlock", "TextRun", "Container", "FactSet",
    "ColumnSet", "Column", "Image", "Input.ChoiceSet", "Input.Text", "Input.Time",
    "Input.Date", "Input.Toggle", "ActionSet",
    "Action.Execute", "Action.Submit", "Action.ShowCard", "Action.OpenUrl",
}  # fmt: skip
# Teams' message size limit is about 28 KB for a card payload.
MAX_CARD_BYTES = 28 * 1024


def question_view(number: int = 1, **overrides: Any) -> QuestionView:
    framework = default_framework()
    question = framework.question(number)
    component = framework.component_of(number)
    values: dict[str, Any] = {
        "ref": ActionRef(41, 7),
        "component_name": component.name,
        "number": number,
        "total": framework.question_count,
        "title": question.title,
        "levels": tuple(
            LevelChoice(level.value, level.name, descriptor.text)
            for level, descriptor in zip(framework.levels, question.levels, strict=True)
        ),
        "practice": component.practice,
    }
    values.update(overrides)
    return QuestionView(**values)


def review_view() -> ReviewView:
    framework = default_framework()
    sections = tuple(
        ReviewSection(c.name, tuple(ReviewRow(q.number, q.title, "Spreading") for q in c.questions))
        for c in framework.components
    )
    return ReviewView(ActionRef(41, 30), 22, 22, 0, sections)


def all_cards() -> dict[str, dict[str, Any]]:
    framework = default_framework()
    longest = max(framework.questions, key=lambda q: sum(len(d.text) for d in q.levels))
    return {
        "question": cards.question_card(question_view()),
        "longest question": cards.question_card(
            question_view(longest.number, comment="c" * 1000, notice="That card is out of date.")
        ),
        "settled": cards.settled_card(
            SettledView("Component", 3, 22, "Title", "Progressing", "a comment", "Saved")
        ),
        "review": cards.review_card(review_view()),
        "profile": cards.profile_card(
            ProfileView(
                "Alex",
                "25 November 2026",
                tuple(ProfileLine(c.name, "Progressing", 4, 4) for c in framework.components),
                ProfileLine("Overall", "Progressing", 22, 22),
            )
        ),
        "welcome": cards.welcome_card(WelcomeView("T", 22, ("a", "b"))),
        "restart": cards.confirm_restart_card(ConfirmRestartView(ActionRef(1, 2), 3, 22)),
        "notice": cards.notice_card(NoticeView("hi", (("start", "Start"),))),
        "help": cards.help_card(22),
        "invitation": invitation_card(
            InvitationView(3, "Winter 2026", ("Ward 7",), "Friday 11 December", 22)
        ),
        "role": role_card(3, "Winter 2026", ROLES),
        "rounds": admin_cards.rounds_card(
            (admin_cards.RoundLine(3, "Winter 2026", "open", "25 Nov → 9 Dec", "Ward 7", 4, 9),)
        ),
        "new round": admin_cards.new_round_card(
            (admin_cards.TeamChoice("19:a", "Ward 7"),), "2026-11-25", "2026-12-09"
        ),
    }


def walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "type" in node:
            found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for item in node:
            found += walk(item)
    return found


@pytest.mark.parametrize("name", list(all_cards()))
def test_every_card_keeps_the_teams_rules(name: str) -> None:
    card = all_cards()[name]
    assert card["type"] == "AdaptiveCard"
    assert float(card["version"]) <= 1.5
    assert len(json.dumps(card).encode()) < MAX_CARD_BYTES
    for element in walk(card):
        assert element["type"] in ALLOWED_TYPES, element["type"]
        if element["type"].startswith("Action."):
            assert element.get("title"), "every button says what it does"
        if element["type"] == "Action.Execute":
            fallback = element["fallback"]
            assert fallback["type"] == "Action.Submit"
            assert fallback["data"] == element["data"]
            assert element["data"]["verb"] == element["verb"]
        if element["type"] == "TextBlock":
            assert element.get("wrap") is True, "text wraps on a phone"
        if element["type"].startswith("Input."):
            assert element.get("label"), "inputs are labelled for screen readers"


def test_question_card_content_and_actions() -> None:
    view = question_view(5, selected_level=2, comment="kept")
    card = cards.question_card(view)
    choice = next(e for e in card["body"] if e.get("id") == "level")
    assert choice["style"] == "expanded"
    assert choice["isRequired"] is True
    assert choice["value"] == "2"
    assert [c["value"] for c in choice["choices"]] == ["1", "2", "3", "4", "5"]
    for choice_item, level in zip(choice["choices"], view.levels, strict=True):
        assert choice_item["title"] == f"{level.name}: {level.descriptor}"
    comment = next(e for e in card["body"] if e.get("id") == "comment")
    assert comment["maxLength"] == 1000
    assert comment["value"] == "kept"
    titles = [a["title"] for a in card["actions"]]
    assert titles == ["Next", "Back", "Skip", "What this looks like in practice"]
    data = card["actions"][0]["data"]
    assert data == {"verb": "answer", "aid": 41, "rev": 7, "q": 5}
    skip = card["actions"][2]
    assert skip["associatedInputs"] == "none"


def test_first_question_has_no_back() -> None:
    titles = [a["title"] for a in cards.question_card(question_view(1))["actions"]]
    assert "Back" not in titles


def test_no_toggle_visibility_anywhere() -> None:
    assert "ToggleVisibility" not in json.dumps(all_cards())


def test_people_typed_text_never_goes_through_markdown() -> None:
    card = cards.settled_card(
        SettledView("C", 1, 22, "T", None, "[click](http://evil) **bold**", "Skipped")
    )
    blocks = [e for e in walk(card) if e["type"] == "TextBlock"]
    assert all("evil" not in b["text"] for b in blocks)
    runs = [e for e in walk(card) if e["type"] == "TextRun"]
    assert any(r["text"] == "[click](http://evil) **bold**" for r in runs)


def test_skipped_answer_is_said_in_words() -> None:
    card = cards.settled_card(SettledView("C", 1, 22, "T", None, None, "Skipped"))
    assert "Skipped" in json.dumps(card)


def test_review_lists_every_question_and_offers_change_and_submit() -> None:
    card = cards.review_card(review_view())
    change = next(e for e in card["body"] if e.get("id") == "change_q")
    assert [c["value"] for c in change["choices"]] == [str(n) for n in range(1, 23)]
    assert [a["title"] for a in card["actions"]] == ["Submit my answers", "Change answer", "Back"]
