"""The real bot (aiohttp + CloudAdapter + SQLite), in-process, driven through Microsoft 365 Agents
Playground in headless Chromium: a whole self-assessment by clicking, and resume after restart.

Screenshots: ``artifacts/e2e/settled.png`` (a used card with the Playground's banner). The
phone-width screenshots for the README come from ``test_playground_phone.py``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from playwright.async_api import Browser, Locator, expect
from sqlmodel import select

from bot.config import load_settings
from framework.content import Framework, default_framework
from impact.service import create_app
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.people import Person
from store.schema import upgrade
from tests.e2e.playground import REPO_ROOT, PlaygroundPage, start_playground

ARTIFACTS: Final = REPO_ROOT / "artifacts" / "e2e"
QUESTIONS: Final = 22
PHONE_CARD: Final = 360  # px: a card across a small phone's screen
PLAYGROUND_USER_ID: Final = "user-id-0"  # what the Playground puts in from.id (e2e/README.md)

FRAMEWORK: Final[Framework] = default_framework()


# ---- serving the real bot -------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'impact.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


class BotServer:
    """The real service on loopback; after the first start it keeps its port, so it can be
    stopped and started again where the Playground expects it."""

    def __init__(self, db: Database, database_url: str) -> None:
        self.db = db
        self.database_url = database_url
        self.port = 0  # the first start takes a free port from the kernel and keeps it
        self.runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        assert self.port, "start() first"
        return f"http://127.0.0.1:{self.port}/api/messages"

    async def start(self) -> None:
        app = create_app(load_settings(database_url=self.database_url, app_id=""), db=self.db)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self.runner = runner

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def bot(db: Database, database_url: str) -> AsyncIterator[BotServer]:
    server = BotServer(db, database_url)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---- driving the cards ----------------------------------------------------------------------


def level_label(question: int, level: int) -> str:
    """What a level on a question card is called as a button (the tappable level: its name,
    then its descriptor)."""
    name = FRAMEWORK.levels[level - 1].name
    descriptor = FRAMEWORK.question(question).levels[level - 1].text
    return f"{name}: {descriptor}"


async def choose(chat: PlaygroundPage, card: Locator, question: int, level: int) -> None:
    """Tap a level; the card comes back in place with that level marked as chosen (or as the
    answer already saved, when it is the same)."""
    await chat.click_action(level_label(question, level), card=card)
    name = FRAMEWORK.levels[level - 1].name
    await expect(card).to_contain_text(re.compile(rf"● {name} · your (choice|answer)"))


def heading(question: int) -> re.Pattern[str]:
    # a pattern, not a substring: "Question 2 of 22" is a substring of "Question 12 of 22"
    return re.compile(rf"\bQuestion {question} of {QUESTIONS} ·")


async def live_question(chat: PlaygroundPage, question: int) -> Locator:
    """The newest card for ``question`` that still has its buttons (settled cards have none)."""
    card = (
        chat.cards.filter(has_text=heading(question))
        .filter(has=chat.page.get_by_role("button", name="Next", exact=True))
        .last
    )
    await card.wait_for()
    return card


async def answer(
    chat: PlaygroundPage, question: int, level: int, comment: str | None = None
) -> None:
    card = await live_question(chat, question)
    await choose(chat, card, question, level)
    if comment is not None:
        await chat.fill_comment(comment, label="Comment (optional)", card=card)
    await chat.click_action("Next", card=card, expect_replies=1)
    await expect_settled(chat, question)


async def expect_settled(chat: PlaygroundPage, question: int) -> None:
    """The used card was replaced in place by its settled form (no buttons)."""
    settled = chat.cards.filter(has_text=heading(question)).filter(has_text="✓")
    await settled.last.wait_for()


async def start_assessment(chat: PlaygroundPage) -> None:
    welcome = await chat.wait_for_card_containing("22 questions")
    await chat.click_action("Start", card=welcome, expect_replies=1)
    await live_question(chat, 1)


@contextlib.asynccontextmanager
async def at_card_width(message: Locator, width: int = PHONE_CARD) -> AsyncIterator[Locator]:
    """``message`` (a bot message) drawn with its card ``width`` px wide, as on a phone; yields
    the card.

    The Playground does not reflow for narrow viewports: its chat column keeps a 600 px minimum
    and it draws every card 482 px wide (it ignores ``msteams.width: Full`` with a warning), so
    the message and its fixed-width inner box are narrowed by hand, leaving the viewport alone:
    changing the viewport's width would redraw every card, collapsing ShowCards and clearing
    inputs.
    """
    card = message.locator(".ac-adaptiveCard").first
    await message.evaluate(
        """(el, width) => {
            const inner = el.firstElementChild;
            const card = el.querySelector('.ac-adaptiveCard');
            const padding = el.offsetWidth - inner.offsetWidth;
            const around = inner.offsetWidth - card.offsetWidth;
            el.style.width = `${width + around + padding}px`;
            inner.style.width = `${width + around}px`;
        }""",
        width,
    )
    try:
        box = await card.bounding_box()
        assert box is not None
        assert round(box["width"]) == width, box
        yield card
    finally:
        await message.evaluate("el => { el.style.width = el.firstElementChild.style.width = ''; }")


async def card_screenshot(chat: PlaygroundPage, message: Locator, path: Path) -> Path:
    """An element screenshot of the whole of ``message`` (a bot message).

    The chat is a scroll pane, so a card taller than the pane would come out clipped: the
    viewport is made tall enough for it first (a height change does not redraw the cards).
    """
    page = chat.page
    before = page.viewport_size
    assert before is not None
    box = await message.bounding_box()
    assert box is not None
    tall_enough = max(before["height"], int(box["height"]) + 400)
    await page.set_viewport_size({"width": before["width"], "height": tall_enough})
    try:
        await message.evaluate("el => el.scrollIntoView({block: 'center'})")
        path.parent.mkdir(parents=True, exist_ok=True)
        await message.screenshot(path=str(path), animations="disabled")
    finally:
        await page.set_viewport_size(before)
    return path


def stored(db: Database) -> tuple[str, dict[int, tuple[int | None, str | None]]]:
    """The Playground user's latest assessment: its status and {question: (level, comment)}."""

    def read(session: Any) -> tuple[str, dict[int, tuple[int | None, str | None]]]:
        assessment = session.exec(
            select(Assessment)
            .join(Person, Assessment.person_id == Person.id)
            .where(Person.teams_user_id == PLAYGROUND_USER_ID)
            .order_by(Assessment.id.desc())  # type: ignore[union-attr]
        ).first()
        assert assessment is not None, "no assessment stored for the Playground user"
        rows = session.exec(
            select(Answer.question_number, Answer.level, Answer.comment).where(
                Answer.assessment_id == assessment.id
            )
        ).all()
        return assessment.status, {q: (level, comment) for q, level, comment in rows}

    return db.run_sync(read)


# ---- the tests ------------------------------------------------------------------------------

SKIPPED: Final = 7
CHANGED: Final = 3  # answered, then Back from the next question and answered again
CHANGED_TO: Final = 5
WITH_BANNER: Final = 12  # its settled card (with the Playground's banner) → settled.png
COMMENTS: Final = {
    1: "Our board agreed the vision in March; staff forums next.",
    12: "Huddles run on two wards only — spreading slowly.",
}


def first_level(question: int) -> int:
    return (question % 5) + 1


@pytest.mark.e2e
async def test_whole_assessment_through_playground(
    browser: Browser, bot: BotServer, db: Database, tmp_path: Path
) -> None:
    async with start_playground(bot.endpoint, tmp_path / "playground") as playground:
        chat = await PlaygroundPage.open(browser, playground)
        try:
            await start_assessment(chat)

            q1 = await live_question(chat, 1)
            practice = await chat.open_show_card("What this looks like in practice", card=q1)
            await expect(practice).to_contain_text("Create a vision and shared purpose")

            for question in range(1, QUESTIONS + 1):
                if question == SKIPPED:
                    card = await live_question(chat, question)
                    await chat.click_action("Skip", card=card, expect_replies=1)
                    await expect_settled(chat, question)
                    continue
                await answer(chat, question, first_level(question), COMMENTS.get(question))
                if question == WITH_BANNER:
                    settled = chat.cards.filter(has_text=heading(question)).last
                    await expect(settled).to_contain_text("✓ Saved. Your answer: Progressing")
                    await expect(settled).to_contain_text(f"Your comment: {COMMENTS[question]}")
                    await expect(settled).to_contain_text("Your response was sent to the app")
                    await card_screenshot(chat, settled, ARTIFACTS / "settled.png")
                if question == CHANGED:
                    # on the next question, go Back; the earlier answer is preselected
                    card = await live_question(chat, question + 1)
                    await chat.click_action("Back", card=card, expect_replies=1)
                    await chat.wait_for_card_containing("You went back to question 3")
                    again = await live_question(chat, question)
                    name = FRAMEWORK.levels[first_level(question) - 1].name
                    await expect(again).to_contain_text(f"● {name} · your answer")
                    await answer(chat, question, CHANGED_TO)
                    await live_question(chat, question + 1)  # Next returns to where we were

            review = await chat.wait_for_card_containing("Check your answers")
            await expect(review).to_contain_text(
                f"You answered {QUESTIONS - 1} of {QUESTIONS} questions and skipped 1."
            )

            await chat.click_action("Submit my answers", card=review, expect_replies=1)
            profile = await chat.wait_for_card_containing("Thank you, Alex")
            await expect(profile).to_contain_text("Overall:")

            # every exchange in the Log Panel ("invoke 200", "message 201", ...) succeeded
            await expect(chat.page.get_by_text(re.compile(r"^\w+ 200$"))).not_to_have_count(0)
            await expect(chat.page.get_by_text(re.compile(r"^\w+ [45]\d\d$"))).to_have_count(0)
        finally:
            await chat.close()

    status, answers = stored(db)
    expected: dict[int, tuple[int | None, str | None]] = {
        q: (first_level(q), COMMENTS.get(q)) for q in range(1, QUESTIONS + 1)
    }
    expected[SKIPPED] = (None, None)
    expected[CHANGED] = (CHANGED_TO, None)
    assert status == "submitted"
    assert answers == expected
    assert sum(1 for level, _ in answers.values() if level is not None) == QUESTIONS - 1


@pytest.mark.e2e
async def test_resume_after_bot_restart(
    browser: Browser, bot: BotServer, db: Database, tmp_path: Path
) -> None:
    async with start_playground(bot.endpoint, tmp_path / "playground") as playground:
        chat = await PlaygroundPage.open(browser, playground)
        try:
            await start_assessment(chat)
            for question in (1, 2, 3):
                await answer(chat, question, first_level(question))
            await live_question(chat, 4)

            port = bot.port
            await bot.stop()  # the service goes away; the Playground (Teams) stays
            await bot.start()  # a new app, same port, same database
            assert bot.port == port

            await chat.send_text("resume", expect_replies=1)
            resumed = await live_question(chat, 4)
            await expect(resumed).to_contain_text(f"Question 4 of {QUESTIONS}")
            copies = chat.cards.filter(has_text=heading(4))
            await expect(copies).to_have_count(2)
            # the earlier copy was updated in place: one live question card
            await expect(copies.first).to_contain_text("↓ Continued below.")
            await expect(
                chat.cards.filter(has=chat.page.get_by_role("button", name="Next", exact=True))
            ).to_have_count(1)
        finally:
            await chat.close()

    status, answers = stored(db)
    assert status == "in_progress"
    assert answers == {q: (first_level(q), None) for q in (1, 2, 3)}
