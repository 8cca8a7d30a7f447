"""A whole round through Microsoft 365 Agents Playground, with the service as `impact-bot serve`
runs it (outbox sender and scheduler in the background, SQLite):

the bot is installed in the Playground's team by the Playground itself (opening the team's
General channel sends the install events with ``channelData.team``); a round is created for
that team, opening now; the scheduler reads the roster from the Playground's connector
(``pagedmembers``: its six mock users), the outbox sender delivers the invitations (to the
Playground user's 1:1 chat, and by ``POST /v3/conversations`` to the other five); the Playground
user presses Start on the invitation and answers three questions; five colleagues submit (in
the database, as the bot would store them); the round is closed (`rounds close`) and the
summary card, with the chart served by the bot's own ``/charts`` endpoint, appears as a post
in the General channel.

Screenshots: ``artifacts/e2e/round-invitation.png`` (the invitation in the 1:1 chat) and
``artifacts/e2e/round-summary.png`` (the channel with the summary post); copies in
``docs/screenshots/``.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from playwright.async_api import Browser, Locator, expect
from sqlmodel import Session, col, select

from assessment.rules import ChooseLevel, Submit
from bot.config import load_settings
from framework.content import Framework, default_framework
from framework.identity import Identity
from impact.service import create_app
from store.assessments.aggregate import AssessmentStore, Outcome
from store.assessments.tables import Assessment
from store.db import Database
from store.outbox import OutboxMessage
from store.people import Person
from store.rounds.lifecycle import RoundSpec, create_round, request_close
from store.rounds.tables import RoundParticipant
from store.schema import upgrade
from store.teams import Team
from store.types import utcnow
from tests.e2e.playground import (
    GENERAL_CHANNEL,
    PERSONAL_CHAT,
    REPO_ROOT,
    PlaygroundPage,
    start_playground,
)
from tests.e2e.test_playground_assessment import (
    answer,
    first_level,
    live_question,
)

ARTIFACTS: Final = REPO_ROOT / "artifacts" / "e2e"
FRAMEWORK: Final[Framework] = default_framework()
ROUND: Final = "Spring 2027"

# The Playground's built-in configuration (no .m365agentsplayground.yml; e2e/README.md).
TENANT: Final = "00000000-0000-0000-0000-0000000000001"
TEAM_ID: Final = "team-id"  # also the General channel's conversation id
TEAM_NAME: Final = "My Team"
ME: Final = "user-id-0"  # Alex Wilber, the user the Playground's UI acts as
COLLEAGUES: Final = {
    "user-id-1": "Megan Bowen",
    "user-id-2": "Adele Vance",
    "user-id-3": "Isaiah Langer",
    "user-id-4": "Patti Fernandez",
    "user-id-5": "Lynne Robbins",
}
ROSTER: Final = 1 + len(COLLEAGUES)
PERSONAL_CHAT_ID: Final = "5d1b2a6e-0c39-4f5e-9a51-6d2f3c1e7a10"  # --conversation-id
ANSWERED_IN_THE_UI: Final = 3

WAIT_S: Final = 30.0  # bound on each background step (scheduler reconciles every 0.5 s)


# ---- the service, with its background work --------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'impact.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
async def bot_url(db: Database, database_url: str) -> AsyncIterator[str]:
    """The service as `impact-bot serve` runs it, on a loopback port it already knows when it
    is configured: the summary's chart URL is built from ``public_url``, and the Playground's
    page (in the same machine's browser) loads the image from there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings(
        database_url=database_url, app_id="", reconcile_seconds=0.5, public_url=url
    )
    runner = web.AppRunner(create_app(settings, db=db, background=True), access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield url
    finally:
        await runner.cleanup()
        sock.close()


# ---- the round, as the CLI and five colleagues would do it ----------------------------------


def installed_team(session: Session) -> dict[str, Any]:
    team = session.exec(select(Team).where(Team.team_id == TEAM_ID)).one()
    return {
        "name": team.name,
        "tenant": team.tenant_id,
        "channel": team.channel_conversation_id,
        "service_url": team.service_url,
        "installed": team.installed,
    }


def open_round_now(db: Database) -> int:
    now = utcnow()
    spec = RoundSpec(ROUND, (TEAM_ID,), now, now + timedelta(days=7), "3d")

    def create(session: Session) -> int:
        round_id = create_round(session, spec, framework=FRAMEWORK, actor="cli:e2e", now=now).id
        assert round_id is not None
        return round_id

    return db.run_sync(create)


def colleague_level(n: int, component: int) -> int:
    """A plausible spread: components differ, people differ a little."""
    base = (4, 3, 2, 3, 2)[component % 5]
    return max(1, min(5, base + (-1, 0, 0, 1, 0)[n % 5]))


def submit_as_colleague(db: Database, round_id: int, n: int, user_id: str, name: str) -> None:
    """What the bot stores when a colleague answers every question from their invitation."""
    store = AssessmentStore(FRAMEWORK, utcnow)
    who = Identity(TENANT, user_id, f"00000000-0000-0000-0000-00000000000{20 + n}", name)
    snapshot = db.run_sync(lambda s: store.start_or_resume(s, who, round_id))

    def act(session: Session, command: ChooseLevel | Submit) -> Outcome:
        return store.act(session, who, snapshot.assessment_id, command)

    token = snapshot.revision
    for c, component in enumerate(FRAMEWORK.components):
        for question in component.questions:
            command = ChooseLevel(question.number, colleague_level(n, c), None, token)
            db.run_sync(partial(act, command=command))
            token += 1
    outcome = db.run_sync(partial(act, command=Submit(token)))
    assert outcome.snapshot is not None
    assert outcome.snapshot.status.value == "submitted"


def roster(session: Session, round_id: int) -> dict[str, str | None]:
    """Each participant's Teams id → the status of their round assessment (None: not started)."""
    rows = session.exec(
        select(Person.teams_user_id, Assessment.status)
        .join(RoundParticipant, col(RoundParticipant.person_id) == col(Person.id))
        .outerjoin(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
        .where(RoundParticipant.round_id == round_id)
    ).all()
    return {user_id: status for user_id, status in rows}


def outbox(session: Session, round_id: int) -> list[tuple[str, str, int | None, str]]:
    """(kind, status, HTTP status, where) for the round's messages, oldest first; where is a
    conversation id, or ``person:<Teams id>`` for a 1:1 chat the sender had to create."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.round_id == round_id)
        .order_by(col(OutboxMessage.id))
    ).all()
    result = []
    for message in rows:
        target = json.loads(message.payload)["target"]
        where = target.get("conversation_id") or f"person:{target['user_id']}"
        result.append((message.kind, message.status, message.last_status, where))
    return result


# ---- screenshots ----------------------------------------------------------------------------


async def shot_of_conversation(
    chat: PlaygroundPage, last: Locator, path: Path, *, below: int = 24
) -> Path:
    """The sidebar (which conversation this is) and the conversation down to ``below`` px under
    ``last``; not the Log Panel. The viewport is made tall enough first (the pane scrolls)."""
    page = chat.page
    before = page.viewport_size
    assert before is not None
    box = await last.bounding_box()
    assert box is not None
    await page.set_viewport_size(
        {"width": before["width"], "height": max(before["height"], int(box["height"]) + 400)}
    )
    try:
        await last.evaluate("el => el.scrollIntoView({block: 'end'})")
        box = await last.bounding_box()
        assert box is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(
            path=str(path),
            animations="disabled",
            clip={"x": 0, "y": 0, "width": 940, "height": box["y"] + box["height"] + below},
        )
    finally:
        await page.set_viewport_size(before)
    return path


# ---- the test -------------------------------------------------------------------------------


@pytest.mark.e2e
async def test_round_from_invitation_to_channel_summary(
    browser: Browser, bot_url: str, db: Database, tmp_path: Path
) -> None:
    async with start_playground(
        f"{bot_url}/api/messages", tmp_path / "playground", conversation_id=PERSONAL_CHAT_ID
    ) as playground:
        chat = await PlaygroundPage.open(browser, playground)  # the 1:1 chat; bot's welcome
        try:
            await chat.wait_for_card_containing("22 questions")

            # The Playground installs the bot in its team when the channel is first opened.
            await chat.open_conversation(GENERAL_CHANNEL)
            updates = chat.log_entries(re.compile(r"^conversationUpdate 201$"))
            await expect(updates).to_have_count(2)  # the 1:1 chat's, then the team's
            assert db.run_sync(installed_team) == {
                "name": TEAM_NAME,
                "tenant": TENANT,
                "channel": TEAM_ID,
                "service_url": playground.service_url,
                "installed": True,
            }

            # A round for the team, opening now: the invitation comes to the 1:1 chat.
            await chat.open_conversation(PERSONAL_CHAT)
            round_id = open_round_now(db)
            invitation = await chat.wait_for_card_containing(ROUND, timeout_s=WAIT_S)
            await expect(invitation).to_contain_text(
                f"{TEAM_NAME} is taking part in the NHS IMPACT self-assessment."
            )
            for button in ("Start", "Remind me later", "Stop reminding me"):
                await expect(
                    invitation.get_by_role("button", name=button, exact=True)
                ).to_be_visible()
            # with the Playground's note under the card ("Full width control is not supported")
            await shot_of_conversation(
                chat, invitation, ARTIFACTS / "round-invitation.png", below=64
            )

            # The roster came from the Playground's connector (GET .../team-id/pagedmembers) ...
            paged = chat.log_entries(re.compile(r"^getConversationPagedMembers 200$"))
            await expect(paged).to_have_count(1)
            # ... and the other five were invited in 1:1 chats the sender created
            # (POST /v3/conversations, then the card to each new conversation).
            created = chat.log_entries(re.compile(r"^createConversation 201$"))
            await expect(created).to_have_count(len(COLLEAGUES), timeout=WAIT_S * 1000)
            assert set(db.run_sync(lambda s: roster(s, round_id))) == {ME, *COLLEAGUES}

            # Start from the invitation, answer three questions.
            await chat.click_action("Start", card=invitation, expect_replies=1)
            await live_question(chat, 1)
            for question in range(1, ANSWERED_IN_THE_UI + 1):
                await answer(chat, question, first_level(question))
            await live_question(chat, ANSWERED_IN_THE_UI + 1)

            # Five colleagues submit; then the round is closed (`impact-bot rounds close`).
            for n, (user_id, name) in enumerate(COLLEAGUES.items(), start=1):
                submit_as_colleague(db, round_id, n, user_id, name)
            db.run_sync(lambda s: request_close(s, round_id, actor="cli:e2e", now=utcnow()))

            # The summary is posted in the team's General channel.
            await chat.open_conversation(GENERAL_CHANNEL)
            summary = await chat.wait_for_post_containing(f"{ROUND}: results", timeout_s=WAIT_S)
            posts = chat.channel_posts.filter(has_text=f"{ROUND}: results")
            await expect(posts).to_have_count(1)
            await expect(summary).to_contain_text(TEAM_NAME)
            await expect(summary).to_contain_text(
                f"Responses: {len(COLLEAGUES)} of {ROSTER} "
                f"({round(100 * len(COLLEAGUES) / ROSTER)}%)"
            )
            await expect(summary).not_to_contain_text("Not enough responses")
            chart = summary.locator("img[src*='/charts/']")
            await expect(chart).to_have_attribute("src", re.compile(rf"^{re.escape(bot_url)}/"))
            await expect(chart).to_have_attribute("alt", re.compile(r"\S"))
            # the browser loaded the PNG from the bot's /charts endpoint
            await chat.page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=await chart.element_handle()
            )
            await shot_of_conversation(chat, summary, ARTIFACTS / "round-summary.png")

            # every exchange in the Log Panel succeeded ("createConversation 201", ...)
            await expect(chat.log_entries(re.compile(r"^\w+ [45]\d\d$"))).to_have_count(0)
        finally:
            await chat.close()

    statuses = db.run_sync(lambda s: roster(s, round_id))
    assert statuses == {ME: "in_progress", **dict.fromkeys(COLLEAGUES, "submitted")}
    # every message was accepted by the Playground: an invitation each (Alex's to the chat the
    # page is showing, the others' to new 1:1 chats), one summary to the General channel
    messages = db.run_sync(lambda s: outbox(s, round_id))
    invitations = sorted(m for m in messages if m[0] == "invitation")
    assert invitations == sorted(
        [("invitation", "sent", 201, PERSONAL_CHAT_ID)]
        + [("invitation", "sent", 201, f"person:{user_id}") for user_id in COLLEAGUES]
    )
    assert [m for m in messages if m[0] == "summary"] == [("summary", "sent", 201, TEAM_ID)]
