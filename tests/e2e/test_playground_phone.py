"""The self-assessment as a busy nurse does it on a phone, through Microsoft 365 Agents
Playground in headless Chromium, every card drawn 360 px wide.

It measures every question card's height at that width (``artifacts/e2e/card-heights.json``)
and checks the median against the aim (1,100 px) with every level's name and descriptor shown,
and writes the README's screenshots to ``artifacts/e2e/``: ``question.png`` (a level chosen),
``guidance.png`` (What this looks like in practice, opened at the top), ``settled-back.png``
(Back, in words that are true), ``refused.png`` (Next without a level: the card stays live, the
comment kept, a note above), ``review.png`` (with skips per component) and ``profile.png``
(a component with too few answers says so). Copies live in ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Browser, Locator, expect

from store.db import Database
from tests.e2e.playground import PlaygroundPage, start_playground
from tests.e2e.test_playground_assessment import (  # the same served bot and its database
    ARTIFACTS,
    FRAMEWORK,
    QUESTIONS,
    BotServer,
    answer,
    at_card_width,
    bot,  # noqa: F401
    card_screenshot,
    choose,
    database_url,  # noqa: F401
    db,  # noqa: F401
    expect_settled,
    live_question,
    start_assessment,
    stored,
)

MEDIAN_AIM: Final = 1100  # px, at 360 px wide
SKIPPED: Final = frozenset({5, 6, 7, 13, 20})  # three of component 2: "Not enough answers"
BACK_FROM: Final = 4  # Back on question 4 (nothing answered there yet)
REFUSED: Final = 2  # Next pressed without a level, a comment typed
COMMENT: Final = "Our ward huddle covers this most mornings."


def level_for(question: int) -> int:
    return (question % 5) + 1


async def every_level_shown(card: Locator, question: int) -> None:
    """Nothing needed to choose is hidden: every level's name and its whole descriptor."""
    text = " ".join((await card.inner_text()).split())
    for level in FRAMEWORK.levels:
        assert f"○ {level.name}" in text
        assert " ".join(FRAMEWORK.descriptor(question, level.value).split()) in text


async def shot(chat: PlaygroundPage, message: Locator, name: str) -> None:
    async with at_card_width(message):
        await card_screenshot(chat, message, ARTIFACTS / name)


async def measure(card: Locator) -> float:
    async with at_card_width(card) as drawn:
        box = await drawn.bounding_box()
    assert box is not None
    return float(box["height"])


@pytest.mark.e2e
async def test_a_whole_assessment_on_a_phone(
    browser: Browser,
    bot: BotServer,  # noqa: F811
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    heights: dict[int, float] = {}
    async with start_playground(bot.endpoint, tmp_path / "playground") as playground:
        chat = await PlaygroundPage.open(browser, playground)
        try:
            await start_assessment(chat)
            question, refused, went_back = 1, False, False
            while question <= QUESTIONS:
                card = await live_question(chat, question)
                if question not in heights:
                    await every_level_shown(card, question)
                    heights[question] = await measure(card)
                if question == 1:
                    await phone_question_and_guidance(chat, card)
                if question == REFUSED and not refused:
                    await next_without_a_level(chat, card)
                    refused = True
                if question == BACK_FROM and not went_back:
                    went_back = True
                    await chat.click_action("Back", card=card, expect_replies=1)
                    settled = chat.cards.filter(has_text=f"Question {BACK_FROM} of").last
                    await expect(settled).to_contain_text(
                        f"✓ You went back to question {question - 1}."
                    )
                    await expect(settled).not_to_contain_text("Your answer")
                    await shot(chat, settled, "settled-back.png")
                    question -= 1
                    continue
                if question in SKIPPED:
                    await chat.click_action("Skip", card=card, expect_replies=1)
                    await expect_settled(chat, question)
                else:
                    await answer(chat, question, level_for(question))
                question += 1

            review = await chat.wait_for_card_containing("Check your answers")
            await expect(review).to_contain_text(f"skipped {len(SKIPPED)}.")
            await expect(review).to_contain_text("Investing in people and culture · 3 of 4 skipped")
            await expect(review).to_contain_text(f"Your comment: {COMMENT}")
            await shot(chat, review, "review.png")

            await chat.click_action("Submit my answers", card=review, expect_replies=1)
            profile = await chat.wait_for_card_containing("Thank you, Alex")
            await expect(profile).to_contain_text("Not enough answers (1 of 4 answered)")
            await expect(profile).to_contain_text("What happens next.")
            await shot(chat, profile, "profile.png")
        finally:
            await chat.close()

    status, answers = stored(db)
    assert status == "submitted"
    assert answers[REFUSED] == (level_for(REFUSED), COMMENT)
    assert {q for q, (level, _c) in answers.items() if level is None} == SKIPPED

    report = {
        "width_px": 360,
        "heights_px": {str(q): round(h) for q, h in sorted(heights.items())},
        "median_px": round(statistics.median(heights.values())),
        "max_px": round(max(heights.values())),
        "max_question": max(heights, key=lambda q: heights[q]),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "card-heights.json").write_text(json.dumps(report, indent=2) + "\n")
    assert len(heights) == QUESTIONS
    assert report["median_px"] <= MEDIAN_AIM, report


async def phone_question_and_guidance(chat: PlaygroundPage, card: Locator) -> None:
    """Question 1 with a level chosen; then its guidance, opened from the top of the card."""
    await choose(chat, card, 1, 3)
    await shot(chat, card, "question.png")
    async with at_card_width(card):
        practice = await chat.open_show_card("What this looks like in practice", card=card)
        await expect(practice).to_contain_text("Create a vision and shared purpose")
        # it opens at the top, where the person is looking: above the first level
        practice_box, level_box = (
            await practice.bounding_box(),
            await card.get_by_text("○ Starting", exact=True).bounding_box(),
        )
        assert practice_box is not None
        assert level_box is not None
        assert practice_box["y"] < level_box["y"]
        await card_screenshot(chat, card, ARTIFACTS / "guidance.png")
    await chat.click_action("What this looks like in practice", card=card)  # closed again


async def next_without_a_level(chat: PlaygroundPage, card: Locator) -> None:
    """A refused press: Next with a comment but no level. The same card stays, live, with a
    note above it and the comment kept."""
    await chat.fill_comment(COMMENT, label="Comment (optional)", card=card)
    await chat.click_action("Next", card=card)
    await expect(card).to_contain_text(
        "Choose a level (or tap Skip) before Next. Nothing was changed."
    )
    box = card.get_by_role("textbox", name="Comment (optional)", exact=True)
    await expect(box).to_have_value(COMMENT)
    await shot(chat, card, "refused.png")
