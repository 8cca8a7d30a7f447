"""Names people choose (teams, rounds, huddles, display names) never become markdown: every card
builder's fixture is built again with each such name replaced by a link, and no TextBlock or
FactSet of the card reads it as one (bot.cards.common.escape_markdown). A team named
`[click](https://…)` shows as those characters, not as a link under the bot's name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.bot.cards.rendering.fixtures import CardFixture, fixtures
from tests.bot.cards.rendering.render import cards_of

pytestmark = pytest.mark.unit

EVIL = "https://evil.example/x"
# The names in the fixtures that people chose: rounds, teams, huddles, people.
NAMES = frozenset({
    "Winter 2026", "Autumn 2026", "Spring 2026", "Spring 2027",
    "Ward 7", "Ward 8", "Ward 9", "Theatres", "Emergency Department, Paediatric Emergency Care",
    "Estates and Facilities", "Medicine", "Surgery", "Executive",
    "Daily safety huddle", "Morning safety huddle at the nurses' station", "Night shift",
    "Sam Lead", "Alex",
})  # fmt: skip


def hostile(name: str) -> str:
    return f"[{name}]({EVIL}) **{name}**"


def swap(value: Any) -> Any:
    """The value with every chosen name in it (at any depth) made hostile."""
    if isinstance(value, str):
        return hostile(value) if value in NAMES else value
    if isinstance(value, tuple):
        return tuple(swap(v) for v in value)
    if isinstance(value, list):
        return [swap(v) for v in value]
    if isinstance(value, dict):
        return {k: swap(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f for f in dataclasses.fields(value) if f.init]
        changes = {f.name: swap(getattr(value, f.name)) for f in fields}
        if any(changes[f.name] is not getattr(value, f.name) for f in fields):
            return dataclasses.replace(value, **changes)
    return value


def markdown_texts(node: Any) -> list[str]:
    """Every text a Teams client reads as markdown: TextBlocks and FactSets."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(str(node.get("text", "")))
        if node.get("type") == "FactSet":
            for fact in node.get("facts", []):
                found += [str(fact.get("title", "")), str(fact.get("value", ""))]
        for value in node.values():
            found += markdown_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += markdown_texts(value)
    return found


def hostile_fixtures() -> list[CardFixture]:
    made = []
    for fixture in fixtures():
        args, kwargs = swap(fixture.args), swap(fixture.kwargs)
        if args != fixture.args or kwargs != fixture.kwargs:
            made.append(dataclasses.replace(fixture, args=args, kwargs=kwargs))
    return made


def test_most_cards_are_tried_with_hostile_names() -> None:
    assert len(hostile_fixtures()) >= 30


@pytest.mark.parametrize("fixture", hostile_fixtures(), ids=lambda f: f.name)
def test_no_chosen_name_becomes_markdown(fixture: CardFixture) -> None:
    cards = cards_of(fixture.build())
    joined = "\n".join(t for card in cards for t in markdown_texts(card))
    assert f"]({EVIL})" not in joined, f"a name became a link in {fixture.name}"
    assert not [n for n in NAMES if f"**{n}**" in joined], f"a name became bold in {fixture.name}"


def test_the_check_finds_a_name_left_as_markdown() -> None:
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": hostile("Ward 7")}]}
    assert f"]({EVIL})" in "\n".join(markdown_texts(card))
