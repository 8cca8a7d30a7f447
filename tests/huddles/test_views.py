"""How items are named on cards and how an action's due date reads (huddles.rules.views)."""

from __future__ import annotations

from datetime import date

import pytest

from huddles.rules.items import ItemKind
from huddles.rules.views import CHANGES, due_flag, item_ref, parse_item_ref

pytestmark = pytest.mark.unit


def test_an_item_reference_carries_kind_id_and_revision() -> None:
    ref = item_ref("idea", 12, 3)
    assert ref == "idea:12:3"
    assert parse_item_ref(ref) == (ItemKind.IDEA, 12, 3)


@pytest.mark.parametrize(
    "forged", ["", "idea", "idea:12", "idea:x:1", "idea:1:-1", "task:1:1", "idea:1:1:1", "1:1:1"]
)
def test_anything_else_is_not_an_item(forged: str) -> None:
    assert parse_item_ref(forged) is None


def test_an_actions_due_date_in_words() -> None:
    today = date(2026, 11, 26)
    assert due_flag(date(2026, 11, 25), today) == "Overdue"
    assert due_flag(today, today) == "Due today"
    assert due_flag(date(2026, 11, 27), today) == ""


def test_every_change_has_a_distinct_value_and_a_title() -> None:
    assert len({c.value for c in CHANGES}) == len(CHANGES)
    assert all(c.title for c in CHANGES)
