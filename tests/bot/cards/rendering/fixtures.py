"""Every card the bot can send, built from fixtures: each card builder (every public function in
bot/cards/** that returns a `Card`, and every public method there that returns a `Card` or an
`Activity`) with the inputs that show its shapes, longest texts included.

`card_builders()` finds the builders by looking, so a new feature's cards are found without
anyone listing them, and `test_fixtures.py` fails until a feature's fixtures module here
(`<feature>_fixtures.py`, added to `fixtures()`) gives each one a fixture.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import bot.cards
from tests.bot.cards.rendering.alignment_fixtures import alignment_fixtures
from tests.bot.cards.rendering.assessment_fixtures import assessment_fixtures
from tests.bot.cards.rendering.card_fixture import (
    CHART_URL,
    FRAMEWORK,
    Builder,
    CardFixture,
)
from tests.bot.cards.rendering.huddle_fixtures import huddle_fixtures
from tests.bot.cards.rendering.privacy_fixtures import privacy_fixtures
from tests.bot.cards.rendering.rounds_fixtures import rounds_fixtures

__all__ = ["CHART_URL", "FRAMEWORK", "CardFixture", "card_builders", "fixtures", "qualified"]

CARD_RETURNS = frozenset({"Card", "Activity"})


def card_builders() -> dict[str, Builder]:
    """Every public card builder in bot/cards/**, by its qualified name."""
    found: dict[str, Builder] = {}
    for module_info in pkgutil.walk_packages(bot.cards.__path__, "bot.cards."):
        module = importlib.import_module(module_info.name)
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(member) and _returns_a_card(member):
                found[f"{module.__name__}.{name}"] = member
            elif inspect.isclass(member):
                for method_name, method in vars(member).items():
                    public = not method_name.startswith("_") and inspect.isfunction(method)
                    if public and _returns_a_card(method):
                        found[f"{module.__name__}.{name}.{method_name}"] = method
    return found


def _returns_a_card(function: Builder) -> bool:
    annotation = inspect.signature(function).return_annotation
    return isinstance(annotation, str) and annotation in CARD_RETURNS


def qualified(builder: Builder) -> str:
    return f"{builder.__module__}.{builder.__qualname__}"


def fixtures() -> list[CardFixture]:
    return [
        *assessment_fixtures(),
        *rounds_fixtures(),
        *alignment_fixtures(),
        *huddle_fixtures(),
        *privacy_fixtures(),
    ]
