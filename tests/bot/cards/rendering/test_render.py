"""Every card the bot can send, rendered by Microsoft's official Adaptive Cards renderer (npm
`adaptivecards` 3.0.6) in headless Chromium. Fails on any parse or validation warning, a card
over 80 KB, a version above 1.5, or a card builder with no fixture (test_fixtures.py says which).

Screenshots at phone width (360 px) and desktop width go to artifacts/cards/, with index.html to
look at them all. Needs `cd checks && npm ci` and /usr/bin/chromium; skipped without them,
required in CI (IMPACT_REQUIRE_E2E=1)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser

from rounds.services.charts import component_chart_png
from tests.bot.cards.rendering.fixtures import (
    CHART_URL,
    FRAMEWORK,
    card_builders,
    fixtures,
    qualified,
)
from tests.bot.cards.rendering.render import (
    DESKTOP_WIDTH,
    MAX_BYTES,
    MAX_VERSION,
    PHONE_WIDTH,
    RENDERER,
    CardPage,
    card_bytes,
    cards_of,
    versions,
    write_index,
)
from tests.bot.cards.test_summary import autumn_with_everything
from tests.e2e.playground import unavailable
from tests.paths import REPO

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / "artifacts" / "cards"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@pytest.fixture
async def card_page(browser: Browser) -> CardPage:
    if not RENDERER.is_file():
        unavailable(f"{RENDERER.relative_to(REPO)} is missing; run `cd checks && npm ci`")
    results = autumn_with_everything()
    chart = component_chart_png(results.team(1), FRAMEWORK, round_name=results.name)
    page = await browser.new_page()
    return await CardPage.open(page, {CHART_URL: chart})


async def test_every_card_renders_cleanly_in_microsofts_renderer(card_page: CardPage) -> None:
    problems: list[str] = []
    rows: list[tuple[str, dict[str, str], int]] = []
    covered = {qualified(f.builder) for f in fixtures()}
    for missing in sorted(set(card_builders()) - covered):
        problems.append(f"{missing}: no fixture in tests/bot/cards/rendering/fixtures.py")
    for fixture in fixtures():
        for index, card in enumerate(cards_of(fixture.build())):
            name = fixture.name if index == 0 else f"{fixture.name} ({index + 1})"
            size = card_bytes(card)
            if size > MAX_BYTES:
                problems.append(f"{name}: {size:,} bytes, over {MAX_BYTES:,}")
            for version in versions(card):
                if tuple(int(part) for part in version.split(".")) > MAX_VERSION:
                    problems.append(f"{name}: version {version}, above 1.5")
            shots: dict[str, str] = {}
            for label, width in (("phone", PHONE_WIDTH), ("desktop", DESKTOP_WIDTH)):
                rendered = await card_page.render(card, width)
                problems += [
                    f"{name} ({label}): {e['phase']} {e['event']}: {e['message']}"
                    for e in rendered.events
                ]
                if rendered.height < 20:
                    problems.append(f"{name} ({label}): rendered {rendered.height} px high")
                file = f"{slug(name)}-{label}.png"
                await card_page.screenshot(ARTIFACTS / file)
                shots[f"{label} ({width} px)"] = file
            rows.append((name, shots, size))
    index = write_index(ARTIFACTS, rows)
    assert not problems, "\n".join(problems)
    assert len(rows) >= len(fixtures())
    assert index.is_file()


async def test_the_render_check_bites(card_page: CardPage) -> None:
    """A card with a made-up element, a missing required property and 1.6-only syntax: the
    renderer reports each, so the check above would fail on them."""
    broken = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlokc", "text": "typo"},
            {"type": "Input.Text"},
            {"type": "Table", "columns": [], "rows": []},
        ],
    }
    rendered = await card_page.render(broken, PHONE_WIDTH)
    messages = " | ".join(e["message"] for e in rendered.events)
    assert len(rendered.events) >= 2, messages
    assert "TextBlokc" in messages
