"""Card builders are pure functions of view models; these check the rules every card keeps."""

from __future__ import annotations

import json
from dataclasses import replace
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
        ReviewSection(
            c.name,
            tuple(ReviewRow(q.number, q.title, "Spreading", "why " * 20) for q in c.questions),
        )
        for c in framework.components
    )
    return ReviewView(ActionRef(41, 30), 22, 22, 0, sections)


def profile_view() -> ProfileView:
    framework = default_framework()
    return ProfileView(
        "Alex",
        "25 November 2026",
        tuple(
            ProfileLine(c.name, "Progressing", 4, 4, True, "Our goals are agreed.", "question 3",
                        c.practice)
            for c in framework.components
        ),
        ProfileLine("Overall", "Progressing", 22, 22),
        next_steps="Your team's results go to its Teams channel on Friday 11 December.",
        enough_rule="A level is shown only where at least half of the questions were answered.",
        reopen=ActionRef(41, 31),
    )  # fmt: skip


def all_cards() -> dict[str, dict[str, Any]]:
    framework = default_framework()
    longest = max(framework.questions, key=lambda q: sum(len(d.text) for d in q.levels))
    return {
        "question": cards.question_card(question_view()),
        "longest question": cards.question_card(
            question_view(longest.number, comment="c" * 1000, notice="That card is out of date.")
        ),
        "chosen question": cards.question_card(question_view(3, chosen_level=2, comment="c")),
        "settled": cards.settled_card(
            SettledView(
                "Component", 3, 22, "Title", "✓ Saved.", "Your answer: **Progressing**", "a comment"
            )
        ),
        "review": cards.review_card(review_view()),
        "review asking to confirm": cards.review_card(
            replace(review_view(), notice="You skipped 18 of 22.", confirm_submit=True)
        ),
        "profile": cards.profile_card(profile_view()),
        "welcome": cards.welcome_card(WelcomeView("T", 22, ("a", "b"), (15, 20))),
        "restart": cards.confirm_restart_card(ConfirmRestartView(ActionRef(1, 2), 3, 22)),
        "restart after submitting": cards.confirm_restart_card(
            ConfirmRestartView(ActionRef(1, 2), 20, 22, submitted=True)
        ),
        "notice": cards.notice_card(NoticeView("hi", (("start", "Start"),))),
        "help": cards.help_card(22),
        "invitation": invitation_card(
            InvitationView(3, "Winter 2026", ("Ward 7",), "Friday 11 December", 22, (15, 20))
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
            assert element.get("title"), "every button (and tappable element) says what it does"
        if element["type"] == "Action.Execute":
            fallback = element["fallback"]
            assert fallback["type"] == "Action.Submit"
            assert fallback["data"] == element["data"]
            assert element["data"]["verb"] == element["verb"]
        if element["type"] == "TextBlock":
            assert element.get("wrap") is True, "text wraps on a phone"
        if element["type"].startswith("Input."):
            assert element.get("label"), "inputs are labelled for screen readers"


def levels_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in card["body"] if e.get("selectAction")]


def test_question_card_puts_level_names_first_and_each_level_is_what_is_tapped() -> None:
    view = question_view(5)
    card = cards.question_card(view)
    levels = levels_of(card)
    assert len(levels) == 5
    for block, level in zip(levels, view.levels, strict=True):
        name, descriptor = block["items"]
        assert name == {"type": "TextBlock", "text": f"○ {level.name}", "wrap": True,
                        "weight": "bolder"}  # fmt: skip
        # the descriptor verbatim, as a TextRun (never read as markdown)
        assert descriptor["type"] == "RichTextBlock"
        assert descriptor["inlines"] == [{"type": "TextRun", "text": level.descriptor}]
        tap = block["selectAction"]
        assert tap["verb"] == "choose"
        assert tap["title"] == f"{level.name}: {level.descriptor}"
        assert tap["data"] == {"verb": "choose", "aid": 41, "rev": 7, "q": 5, "level": level.value}
        assert tap["associatedInputs"] == "auto"  # the comment typed so far goes with the tap
    assert all("style" not in block for block in levels)  # nothing chosen yet


def test_question_card_order_guidance_at_the_top_buttons_straight_after_the_choices() -> None:
    card = cards.question_card(question_view(5, notice="That card is out of date."))
    kinds = [e.get("type") for e in card["body"]]
    assert kinds == ["Container", "TextBlock", "TextBlock", "ActionSet", "TextBlock",
                     *["Container"] * 5, "Input.Text"]  # fmt: skip
    assert card["body"][0]["style"] == "warning"  # the note comes first
    [practice] = card["body"][3]["actions"]
    assert practice["type"] == "Action.ShowCard"
    assert practice["title"] == "What this looks like in practice"
    assert [a["title"] for a in card["actions"]] == ["Next", "Back", "Skip"]
    assert card["actions"][0]["data"] == {"verb": "answer", "aid": 41, "rev": 7, "q": 5}
    assert card["actions"][2]["associatedInputs"] == "none"


def test_the_chosen_level_is_marked_in_words_and_next_records_it() -> None:
    chosen = cards.question_card(question_view(5, chosen_level=2, comment="kept"))
    second = levels_of(chosen)[1]
    assert second["items"][0]["text"] == "● Developing · your choice"
    assert second["style"] == "emphasis"
    assert chosen["actions"][0]["data"]["level"] == 2
    comment = next(e for e in chosen["body"] if e.get("id") == "comment")
    assert comment["maxLength"] == 1000
    assert comment["value"] == "kept"
    saved = cards.question_card(question_view(5, chosen_level=4, chosen_is_saved=True))
    assert levels_of(saved)[3]["items"][0]["text"] == "● Spreading · your answer"


def test_first_question_has_no_back() -> None:
    titles = [a["title"] for a in cards.question_card(question_view(1))["actions"]]
    assert "Back" not in titles


def test_no_toggle_visibility_anywhere() -> None:
    assert "ToggleVisibility" not in json.dumps(all_cards())


def test_people_typed_text_never_goes_through_markdown() -> None:
    card = cards.settled_card(
        SettledView(
            "C", 1, 22, "T", "✓ Saved.", "Your answer: **X**", "[click](http://evil) **bold**"
        )
    )
    blocks = [e for e in walk(card) if e["type"] == "TextBlock"]
    assert all("evil" not in b["text"] for b in blocks)
    runs = [e for e in walk(card) if e["type"] == "TextRun"]
    assert any(r["text"] == "[click](http://evil) **bold**" for r in runs)


def test_a_settled_card_shows_an_answer_and_comment_only_when_given_one() -> None:
    skipped = cards.settled_card(SettledView("C", 1, 22, "T", "✓ Skipped.", None, "typed"))
    assert [e["text"] for e in skipped["body"]] == ["Question 1 of 22 · C", "T", "✓ Skipped."]
    assert "actions" not in skipped
    saved = cards.settled_card(SettledView("C", 1, 22, "T", "✓ Saved.", "Your answer: **X**", "c"))
    assert saved["body"][2]["text"] == "✓ Saved. Your answer: **X**"
    assert saved["body"][3]["inlines"][1]["text"] == "c"


def test_review_lists_every_question_and_offers_change_and_submit() -> None:
    card = cards.review_card(review_view())
    change = next(e for e in card["body"] if e.get("id") == "change_q")
    assert [c["value"] for c in change["choices"]] == [str(n) for n in range(1, 23)]
    assert [a["title"] for a in card["actions"]] == ["Submit my answers", "Change answer", "Back"]
    # each comment, shortened as given, as plain text under its answer
    runs = [e for e in walk(card) if e["type"] == "TextRun" and e["text"].startswith("why")]
    assert len(runs) == 22


def test_review_says_how_many_were_skipped_per_component_and_submit_can_be_confirmed() -> None:
    view = review_view()
    first = view.sections[0]
    skipped_two = replace(
        first,
        rows=tuple(replace(r, level_name=None) if r.number in (1, 3) else r for r in first.rows),
    )
    card = cards.review_card(
        replace(view, sections=(skipped_two, *view.sections[1:]), notice="You skipped 2.",
                confirm_submit=True)
    )  # fmt: skip
    headings = [e["text"] for e in card["body"] if e.get("weight") == "bolder"]
    assert "Building a shared purpose and vision · 2 of 4 skipped" in headings
    assert "Investing in people and culture" in headings
    submit = card["actions"][0]
    assert (submit["title"], submit["data"]["confirm"]) == ("Submit anyway", True)


def test_profile_has_a_line_per_component_with_its_meaning_guidance_and_what_next() -> None:
    card = cards.profile_card(profile_view())
    text = json.dumps(card, ensure_ascii=False)
    assert text.count("What this looks like in practice") == 5
    assert "“Our goals are agreed.” (question 3)" in text
    assert "What happens next." in text
    assert [a["title"] for a in card["actions"]] == ["Change my answers"]


def test_profile_explains_not_enough_answers_in_one_line() -> None:
    view = profile_view()
    lines = (replace(view.components[0], level_label="Not enough answers", enough=False,
                     meaning=None), *view.components[1:])  # fmt: skip
    card = cards.profile_card(replace(view, components=lines))
    text = json.dumps(card, ensure_ascii=False)
    assert "**Not enough answers** (4 of 4 answered)" in text
    assert "A level is shown only where at least half of the questions were answered." in text
    assert "at least half" not in json.dumps(cards.profile_card(profile_view()))


@pytest.mark.parametrize(("in_progress", "button"), [(False, "Start"), (True, "Resume")])
def test_help_offers_resume_mid_assessment(in_progress: bool, button: str) -> None:
    card = cards.help_card(22, in_progress=in_progress)
    assert [a["title"] for a in card["actions"]] == [button]


@pytest.mark.parametrize(("answered", "button"), [(0, "Start"), (3, "Resume")])
def test_welcome_offers_resume_only_with_answers(answered: int, button: str) -> None:
    card = cards.welcome_card(WelcomeView("T", 22, ("a", "b"), (15, 20), answered=answered))
    assert card["actions"][0]["title"] == button
    text = json.dumps(card, ensure_ascii=False)
    assert "about 15–20 minutes, in as many sittings as you like" in text
    assert ("so far" in text) is bool(answered)
