"""A team huddle through Microsoft 365 Agents Playground, with the service as `impact-bot serve`
runs it (outbox sender and scheduler in the background, SQLite):

opening the Playground's General channel installs the bot in its team; the Playground user is
named the team's lead (`impact-bot huddles leads add`) and a schedule is made whose prompt is
due now; the scheduler posts the prompt in the General channel through the outbox, mentioning
the lead; from the card, the user says "I'm here", adds an idea and adds an action; each time
the card is updated in place (one post, its text changing).

Screenshots: ``artifacts/e2e/huddle-prompt.png`` (the prompt as posted) and
``artifacts/e2e/huddle-captured.png`` (after the captures); copies in ``docs/screenshots/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Locator, expect
from sqlmodel import Session, col, select

from store.db import Database
from store.huddles.schedules import ScheduleSpec, add_lead, create_schedule
from store.huddles.tables import HuddleAttendance, HuddleItem
from store.types import utcnow
from tests.e2e.playground import GENERAL_CHANNEL, PlaygroundPage, start_playground
from tests.e2e.test_playground_round import (  # the service as `impact-bot serve` runs it
    ARTIFACTS,
    TEAM_ID,
    TEAM_NAME,
    WAIT_S,
    bot_url,
    database_url,
    db,
    shot_of_conversation,
)

__all__ = ["bot_url", "database_url", "db"]

ME: Final = "user-id-0"  # Alex Wilber, the user the Playground's UI acts as
LONDON: Final = ZoneInfo("Europe/London")
TITLE: Final = f"Weekly improvement huddle: {TEAM_NAME}"
IDEA: Final = "Try a quiet hour after lunch for handovers"
ACTION: Final = "Order more pressure-relief cushions"


def huddle_due_now(session: Session) -> int:
    """Alex leads the team; a huddle every day, five minutes from now, posted 5 minutes
    before: its prompt is due at once (within the 30 minutes a prompt may be late)."""
    now = utcnow()
    add_lead(session, TEAM_ID, ME, actor="cli:e2e", now=now)
    starts = (now + timedelta(minutes=5)).astimezone(LONDON)
    spec = ScheduleSpec(
        team_id=TEAM_ID,
        name="Morning huddle",
        format_id="improvement",
        days=frozenset(range(7)),
        at=starts.time().replace(second=0, microsecond=0),
        zone="Europe/London",
        skip_bank_holidays=False,
        lead_minutes=5,
    )
    schedule = create_schedule(session, spec, actor="cli:e2e", now=now)
    assert schedule.id is not None
    return schedule.id


async def open_form(chat: PlaygroundPage, post: Locator, title: str) -> Locator:
    """Open a ShowCard form on the post; once more if a late redraw of the card closed it."""
    try:
        return await chat.open_show_card(title, card=post)
    except AssertionError:
        return await chat.open_show_card(title, card=post)


def captured(session: Session) -> tuple[list[str], list[tuple[str, str]]]:
    people = [str(a.person_id) for a in session.exec(select(HuddleAttendance)).all()]
    items = session.exec(select(HuddleItem).order_by(col(HuddleItem.id))).all()
    return people, [(i.kind, i.text) for i in items]


@pytest.mark.e2e
async def test_a_huddle_prompt_in_the_channel_captures_from_its_card(
    browser: Browser, bot_url: str, db: Database, tmp_path: Path
) -> None:
    if datetime.now(LONDON).hour == 23 and datetime.now(LONDON).minute >= 50:
        pytest.skip("the huddle five minutes from now would fall on tomorrow's date")
    async with start_playground(f"{bot_url}/api/messages", tmp_path / "playground") as playground:
        chat = await PlaygroundPage.open(browser, playground)
        try:
            await chat.wait_for_card_containing("22 questions")
            await chat.open_conversation(GENERAL_CHANNEL)  # installs the bot in the team
            updates = chat.log_entries(re.compile(r"^conversationUpdate 201$"))
            await expect(updates).to_have_count(2)
            db.run_sync(huddle_due_now)

            # The scheduler posts the prompt in the General channel, through the outbox.
            post = await chat.wait_for_post_containing(TITLE, timeout_s=WAIT_S)
            await expect(post).to_contain_text("Where we left off")
            await expect(post).to_contain_text("Nothing open from last time.")
            await expect(post).to_contain_text("Alex Wilber")  # the lead, @mentioned
            await expect(post).to_contain_text("How we did against our measure")
            await shot_of_conversation(chat, post, ARTIFACTS / "huddle-prompt.png")

            # Each press: the bot updates the post for everyone, then answers the invoke with
            # the same card; both redraw it, so the next form is opened after the answer.
            answered = chat.log_entries(re.compile(r"^invoke 200$"))
            await chat.click_action("I'm here", card=post)
            await expect(answered).to_have_count(1, timeout=WAIT_S * 1000)
            await expect(post).to_contain_text("Alex Wilber is here.")
            await expect(post).to_contain_text("1 person")

            form = await open_form(chat, post, "Add idea")
            await chat.fill_comment(IDEA, label="Your idea", card=form)
            await chat.click_action("Save idea", card=form)
            await expect(answered).to_have_count(2, timeout=WAIT_S * 1000)
            await expect(post).to_contain_text(IDEA)

            form = await open_form(chat, post, "Add action")
            await chat.fill_comment(ACTION, label="What needs doing", card=form)
            await chat.click_action("Save action", card=form)
            await expect(answered).to_have_count(3, timeout=WAIT_S * 1000)
            await expect(post).to_contain_text(ACTION)
            await expect(post).to_contain_text("Due today")

            # one post, updated in place each time
            await expect(chat.channel_posts.filter(has_text=TITLE)).to_have_count(1)
            await shot_of_conversation(chat, post, ARTIFACTS / "huddle-captured.png")
            await expect(chat.log_entries(re.compile(r"^\w+ [45]\d\d$"))).to_have_count(0)
        finally:
            await chat.close()

    attendance, items = db.run_sync(captured)
    assert len(attendance) == 1
    assert items == [("idea", IDEA), ("action", ACTION)]
