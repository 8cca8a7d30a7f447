"""Every card builder has a fixture: the render check (test_render.py) can only vouch for cards it
builds, so a new builder (a new feature's cards) fails here until fixtures.py gives it one. And
every fixture builds a card within Teams' limits, without a browser."""

from __future__ import annotations

import json

import pytest

from tests.bot.cards.rendering.fixtures import card_builders, fixtures, qualified
from tests.bot.cards.rendering.render import MAX_BYTES, MAX_VERSION, cards_of

pytestmark = pytest.mark.unit


def test_every_card_builder_has_a_fixture() -> None:
    builders = card_builders()
    covered = {qualified(f.builder) for f in fixtures()}
    missing = sorted(set(builders) - covered)
    assert not missing, (
        f"card builders with no fixture in tests/bot/cards/rendering/fixtures.py: {missing}"
    )


def test_builders_are_found_by_looking() -> None:
    builders = card_builders()
    assert "bot.cards.assessment.question_card" in builders
    assert "bot.cards.alignment.matrix.matrix_card" in builders
    assert "bot.cards.rounds.messages.RoundCards.summary" in builders
    assert "bot.cards.common.text" not in builders, "elements are not cards"
    assert "bot.cards.common.message_activity" not in builders


def test_fixture_names_are_unique_and_builders_real() -> None:
    names = [f.name for f in fixtures()]
    assert len(names) == len(set(names))
    assert {qualified(f.builder) for f in fixtures()} <= set(card_builders())


@pytest.mark.parametrize("fixture", fixtures(), ids=lambda f: f.name)
def test_every_fixture_builds_cards_within_teams_limits(fixture: object) -> None:
    for card in cards_of(fixture.build()):  # type: ignore[attr-defined]
        assert card["type"] == "AdaptiveCard"
        assert tuple(int(p) for p in card["version"].split(".")) <= MAX_VERSION
        assert len(json.dumps(card, ensure_ascii=False).encode()) <= MAX_BYTES
