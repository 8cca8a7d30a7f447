"""Strategic alignment's cards: the matrix (small, empty, the largest trust), the menu, every
form, and a refusal that keeps what was typed."""

from __future__ import annotations

from collections.abc import Iterator

from alignment.rules.matrix import build_matrix
from bot.cards.alignment.forms import form_card, menu_card, refused_card
from bot.cards.alignment.matrix import matrix_card
from framework.content import default_alignment_tool
from rounds.rules.access import REFUSED
from tests.bot.cards.rendering.card_fixture import CardFixture
from tests.bot.cards.test_alignment import large_matrix, small_matrix
from tests.bot.cards.test_alignment import view as form_view

TOOL = default_alignment_tool()


def alignment_fixtures() -> Iterator[CardFixture]:
    first = TOOL.stage("strategic-aims").question
    yield CardFixture("matrix", matrix_card, (small_matrix(),))
    yield CardFixture("matrix, empty", matrix_card, (build_matrix([], [], [], []),),
                      {"first_question": first})  # fmt: skip
    yield CardFixture("matrix, largest trust, page 2", matrix_card, (large_matrix(),),
                      {"page": 2, "notice": "✓ Aim 3 recorded."})  # fmt: skip
    yield CardFixture("record or link menu", menu_card, (2,))
    for form in ("aim", "goal", "target", "project", "link"):
        yield CardFixture(f"form: {form}", form_card, (form_view(form),))
    yield CardFixture("form: goal, nothing to track yet", form_card, (form_view("goal", aims=()),))
    yield CardFixture("form: back with a note", form_card, (form_view(
        "project", values={"title": "Low beds", "lead": "true"},
        notice="There is already a project called Low beds."),))  # fmt: skip
    yield CardFixture(
        "refused, keeping what was typed",
        refused_card,
        (REFUSED, {"title": "Fewer falls", "measure": "Falls per 1,000 bed days"}),
    )
