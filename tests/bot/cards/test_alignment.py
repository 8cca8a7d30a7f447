"""Strategic alignment's cards: the matrix (pages that fit Teams and a phone, however large the
trust; counts; work linked to no aim under the seed's words) and the forms (each asking its
stage's guiding question); people's titles never pass through markdown."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from alignment.rules.matrix import Aim, Goal, Matrix, Target, Work, build_matrix
from bot.cards.alignment.forms import (
    CHOICE_CHARS,
    MAX_CHOICES,
    Choice,
    FormName,
    FormView,
    form_card,
    menu_card,
    refused_card,
)
from bot.cards.alignment.matrix import MAX_PAGE_LINES, matrix_card, page_count
from framework.content import default_alignment_tool
from tests.bot.cards.test_cards import ALLOWED_TYPES, MAX_CARD_BYTES, walk
from tests.fakes.teams_client import card_text

pytestmark = pytest.mark.unit

TOOL = default_alignment_tool()
EVIL = "**bold** [click](http://evil.example) <at>Ivy</at> _x_"
MAX_BRIEF_BYTES = 80 * 1024  # the issue's ceiling; Teams' own (MAX_CARD_BYTES) is lower


def keeps_the_teams_rules(card: dict[str, Any]) -> None:
    assert card["type"] == "AdaptiveCard"
    assert float(card["version"]) <= 1.5
    size = len(json.dumps(card).encode())
    assert size < MAX_CARD_BYTES < MAX_BRIEF_BYTES, size
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


def small_matrix(title: str = "Safe care") -> Matrix:
    return build_matrix(
        [Aim(1, title), Aim(2, "Flow")],
        [Goal(1, 1, "Fewer falls", "Falls per 1,000 bed days"), Goal(2, 1, "Sepsis", None)],
        [Target(1, "Patient safety framework", (1, 2))],
        [
            Work(1, "Low beds", "project", "Ward 7", 1, "active"),
            Work(1, "Bay checks", "idea", "Ward 7", 1, "testing"),
            Work(2, "New rota app", "project", None, None, "planned"),
        ],
    )


def large_matrix(aims: int = 40, goals: int = 8, work: int = 5, unaligned: int = 200) -> Matrix:
    """A trust with many aims, every title as long as allowed."""

    def long(prefix: str, limit: int = 200) -> str:
        return (prefix + " " + "x" * limit)[:limit]

    goal_ids = [a * 100 + g for a in range(1, aims + 1) for g in range(goals)]
    goal_list = [Goal(n, n // 100, long(f"Goal {n}"), long("measure")) for n in goal_ids]
    work_list = [
        Work(n * 10 + w, long(f"Work {n}.{w}", 500), "idea", long("Team", 256), n, "testing")
        for n in goal_ids
        for w in range(work)
    ]
    work_list += [
        Work(10**7 + u, long(f"Loose {u}", 500), "project", None, None, "active")
        for u in range(unaligned)
    ]
    return build_matrix(
        [Aim(a, long(f"Aim {a}")) for a in range(1, aims + 1)],
        goal_list,
        [
            Target(t, long(f"Target {t}"), tuple(g.id for g in goal_list[t::7]))
            for t in range(1, 21)
        ],
        work_list,
    )


def work_on(card: dict[str, Any]) -> list[str]:
    """The 'Idea 123:' / 'Project 4:' labels of the work lines on a card."""
    return [
        run["text"]
        for run in walk(card)
        if run["type"] == "TextRun" and re.fullmatch(r"• (Idea|Project) \d+: ", run["text"])
    ]


# ---- the matrix ----------------------------------------------------------------------------


def test_the_matrix_shows_aims_goals_targets_and_work_with_counts() -> None:
    card = matrix_card(small_matrix())
    keeps_the_teams_rules(card)
    shown = card_text(card)
    assert "2 aims · 2 goals · 1 national target · 3 pieces of work, 1 linked to no aim" in shown
    assert "2 goals · 2 pieces of work · 1 goal with no work" in shown
    assert "Falls per 1,000 bed days" in shown
    assert "not recorded" in shown, "a goal with no measure says so"
    assert "⚠ No improvement work is linked to this goal." in shown
    assert "Patient safety framework" in shown
    assert work_on(card) == ["• Project 1: ", "• Idea 1: ", "• Project 2: "]
    assert "Page" not in shown, "one page needs no page numbers"
    assert [a["title"] for a in card["actions"]] == ["Record or link…"]


def test_work_linked_to_no_aim_is_questioned_in_the_seeds_words() -> None:
    stage = TOOL.stage("improvement-work")
    shown = card_text(matrix_card(small_matrix()))
    assert "Improvement work linked to no aim (1)" in shown
    assert stage.description in shown
    assert stage.guiding_question in shown
    after = shown.split(stage.guiding_question, 1)[1]
    assert "New rota app" in after
    assert "no team, planned; linked to no goal" in after


def test_an_empty_matrix_asks_the_first_question() -> None:
    empty = build_matrix([], [], [], [])
    question = TOOL.stage("strategic-aims").question
    card = matrix_card(empty, first_question=question)
    keeps_the_teams_rules(card)
    assert "No strategic aims are recorded yet." in card_text(card)
    assert question == "What are the strategic aims of your organisation?"
    assert question in card_text(card)


def test_a_large_trust_is_paged_every_page_fits_and_all_work_is_shown_once() -> None:
    matrix = large_matrix(aims=12, goals=4, work=3, unaligned=60)
    pages = page_count(matrix)
    assert pages > 10
    seen: list[str] = []
    for page in range(1, pages + 1):
        card = matrix_card(matrix, page=page, notice="✓ Aim 3 recorded.")
        keeps_the_teams_rules(card)
        shown = card_text(card)
        assert f"Page {page} of {pages}; work linked to no aim: page {pages}" in shown
        titles = [a["title"] for a in card["actions"]]
        assert ("Previous page" in titles) == (page > 1)
        assert ("Next page" in titles) == (page < pages)
        first = shown.split(f"Page {page} of {pages}", 1)[1].split("\n", 2)[1]
        assert first.startswith(("Aim ", "Improvement work linked to no aim")), first
        lines = work_on(card)
        assert len(lines) <= MAX_PAGE_LINES
        seen += lines
    assert len(seen) == len(set(seen)) == matrix.work_count
    assert "Improvement work linked to no aim (continued)" in card_text(
        matrix_card(matrix, page=pages)
    )


def test_the_largest_trust_still_fits_on_every_page() -> None:
    matrix = large_matrix(aims=40, goals=8, work=5, unaligned=200)
    pages = page_count(matrix)
    for page in (1, pages // 2, pages):
        keeps_the_teams_rules(matrix_card(matrix, page=page, notice="x" * 1000))


def test_a_page_that_starts_inside_an_aim_and_goal_repeats_their_headings() -> None:
    matrix = large_matrix(aims=1, goals=1, work=60, unaligned=0)
    second = card_text(matrix_card(matrix, page=2))
    assert "Aim 1 (continued)" in second
    assert "Goal 100 (continued): " in second


def test_a_page_past_the_end_shows_the_last_page_and_says_so() -> None:
    matrix = large_matrix(aims=3)
    pages = page_count(matrix)
    past = card_text(matrix_card(matrix, page=pages + 5))
    note = f"ⓘ The matrix has {pages} pages now: this is the last."
    assert past == note + "\n" + card_text(matrix_card(matrix, page=pages))


def test_titles_people_typed_are_never_markdown() -> None:
    matrix = build_matrix(
        [Aim(1, EVIL)],
        [Goal(1, 1, EVIL, EVIL)],
        [Target(1, EVIL, (1,))],
        [Work(1, EVIL, "idea", EVIL, 1, "new"), Work(2, EVIL, "project", EVIL, None, "active")],
    )
    card = matrix_card(matrix, notice=f"There is already an aim '{EVIL}' (aim 1).")
    blocks = [e["text"] for e in walk(card) if e["type"] == "TextBlock"]
    assert not [b for b in blocks if "evil" in b or "**" in b]
    runs = [e["text"] for e in walk(card) if e["type"] == "TextRun"]
    assert sum(EVIL in r for r in runs) >= 7


# ---- the forms -----------------------------------------------------------------------------

STAGE_OF: dict[FormName, str] = {
    "aim": "strategic-aims", "goal": "measurable-goals", "target": "national-targets",
    "project": "improvement-work", "link": "improvement-work",
}  # fmt: skip


def view(form: FormName, **fields: Any) -> FormView:
    stage = TOOL.stage(STAGE_OF[form])
    choices = {
        "aims": (Choice("1", "Safe care"),),
        "goals": (Choice("1", "Goal 1: Fewer falls"), Choice("2", "Goal 2: Sepsis")),
        "teams": (Choice("19:ward7", "Ward 7"),),
        "statuses": (Choice("active", "Active"), Choice("planned", "Planned")),
        "work": (Choice("project:2", "Project 2: New rota app"),),
    }
    return FormView(form, stage.name, stage.description, stage.question, **(choices | fields))


@pytest.mark.parametrize("form", list(STAGE_OF))
def test_each_form_asks_its_stages_guiding_question(form: FormName) -> None:
    card = form_card(view(form))
    keeps_the_teams_rules(card)
    stage = TOOL.stage(STAGE_OF[form])
    shown = card_text(card)
    assert stage.question in shown
    assert stage.description in shown
    titles = [a["title"] for a in card["actions"]]
    assert titles[-1] == "Back to the matrix"
    record = card["actions"][0]
    assert record["verb"] == ("alignment_link" if form == "link" else f"alignment_{form}_add")


def test_the_questions_label_the_inputs_they_ask_for() -> None:
    def labels(form: FormName) -> dict[str, str]:
        return {e["id"]: e["label"] for e in walk(form_card(view(form))) if "id" in e}

    assert labels("aim")["title"] == TOOL.stage("strategic-aims").question
    assert labels("goal")["measure"] == "What are you currently measuring?"
    assert labels("target")["title"] == "What national targets are impacting on your project?"


def test_a_form_comes_back_with_what_was_typed_and_a_plain_note() -> None:
    typed = {"aim": "1", "title": EVIL, "measure": "Falls per 1,000 bed days"}
    card = form_card(view("goal", values=typed, notice=f"Aim 1 already has '{EVIL}'."))
    keeps_the_teams_rules(card)
    inputs = {e["id"]: e.get("value") for e in walk(card) if "id" in e}
    assert inputs == typed
    blocks = [e["text"] for e in walk(card) if e["type"] == "TextBlock"]
    assert not [b for b in blocks if "evil" in b]
    assert any(EVIL in e["text"] for e in walk(card) if e["type"] == "TextRun")


def test_long_lists_of_choices_are_shortened_and_say_so() -> None:
    goals = tuple(Choice(str(n), "g" * 300) for n in range(1, MAX_CHOICES + 41))
    card = form_card(view("target", goals=goals))
    keeps_the_teams_rules(card)
    choice_set = next(e for e in walk(card) if e.get("id") == "goals")
    assert len(choice_set["choices"]) == MAX_CHOICES
    assert {len(c["title"]) for c in choice_set["choices"]} == {CHOICE_CHARS}
    assert f"Showing the first {MAX_CHOICES} of {MAX_CHOICES + 40}" in card_text(card)


def test_forms_that_cannot_be_filled_in_yet_say_what_comes_first() -> None:
    assert "Record a strategic aim first" in card_text(form_card(view("goal", aims=())))
    no_work = form_card(view("link", work=()))
    assert "There is no improvement work to link yet" in card_text(no_work)
    assert [a["title"] for a in no_work["actions"]] == ["Back to the matrix"]
    no_goals = card_text(form_card(view("link", goals=())))
    assert "Record a measurable goal first" in no_goals


def test_the_link_form_offers_no_goal_to_unlink() -> None:
    goal = next(e for e in walk(form_card(view("link"))) if e.get("id") == "goal")
    assert goal["choices"][-1] == {"title": "No goal: it serves none", "value": "none"}


def test_the_menu_and_a_refusal() -> None:
    menu = menu_card(page=3)
    keeps_the_teams_rules(menu)
    assert [a["data"]["form"] for a in menu["actions"]] == [
        "aim", "goal", "target", "project", "link",
    ]  # fmt: skip
    assert {a["data"]["page"] for a in menu["actions"]} == {3}
    refused = refused_card("Only the improvement team can do that.", {"title": EVIL})
    keeps_the_teams_rules(refused)
    assert "What you typed:" in card_text(refused)
    assert any(e["text"] == EVIL for e in walk(refused) if e["type"] == "TextRun")
