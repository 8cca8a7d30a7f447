"""A person's turn replies when Teams throttles them (docs/outbox.md, "Turn replies"): through
the real service and adapter, over HTTP on loopback, against the fake Bot Connector made harsh
for the case (429 with and without Retry-After, a tenant's window kept full by the outbox sender,
a reply delivered and then answered 502/504). SQLite and PostgreSQL.

Fault: a reply Teams answered 429 was not sent again, so the person's next card never came
(and the turn failed, apologising that nothing was changed when their answer had been saved);
and the sender, which did not count replies, could fill a tenant's window a reply had used."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.sender.outbox_sender import OutboxSender
from bot.web import TURNS_KEY
from impact.service import LIMITER_KEY, create_app
from store import outbox
from store.db import Database
from store.outbox import Target
from store.types import utcnow
from tests.bot.dialogs.assessment_chat import answers_in_db, question_number, start
from tests.conftest import Clock
from tests.fakes.connector import Failure, FakeConnector, TeamsLimits
from tests.fakes.loopback import serve
from tests.fakes.teams_client import TeamsUser, card_of, card_text

pytestmark = pytest.mark.service

APOLOGY = "something went wrong on my side"
TENANT = "tenant-nhs-trust"  # TeamsUser's
TURN_REQUESTS = frozenset({"send", "reply", "update"})


def question_cards(user: TeamsUser, conversation: FakeConnector) -> list[int | None]:
    """The question cards Teams accepted into the person's chat, in order (every copy)."""
    found = []
    for call in conversation.calls:
        if call.conversation_id != user.conversation_id or call.kind not in ("send", "reply"):
            continue
        card = card_of(call.body)
        if call.status == 201 and card is not None and question_number(card) is not None:
            found.append(question_number(card))
    return found


def apologised(user: TeamsUser) -> bool:
    return any(APOLOGY in text for text in user.texts())


@pytest.mark.parametrize("retry_after", [0.3, None], ids=["retry-after", "no-retry-after"])
async def test_a_reply_teams_throttles_is_sent_again_and_arrives_once(
    teams_user: Callable[..., TeamsUser], connector: FakeConnector, retry_after: float | None
) -> None:
    user = teams_user()
    await user.install()
    connector.fail_next(1, Failure(429, "Throttled", retry_after, kinds=TURN_REQUESTS))
    result = await user.say("start")
    assert result.status < 300
    assert question_cards(user, connector) == [1]
    _id, card = user.last_card()
    assert question_number(card) == 1
    assert [call.status for call in connector.calls if call.kind == "reply"][-2:] == [429, 201]
    assert not apologised(user)
    assert connector.duplicates() == 0


@pytest.fixture
async def harsh_teams() -> AsyncIterator[FakeConnector]:
    """Teams with a tenant window of 5 requests per 2 s (its limits' shape, smaller)."""
    fake = FakeConnector(limits=TeamsLimits(per_tenant=((5, 2.0),)))
    await fake.start()
    yield fake
    await fake.stop()


async def fill_tenant_window(fake: FakeConnector, count: int) -> None:
    """`count` messages from this bot in the tenant, sent by something else of the trust's."""
    fake.add_conversation("19:elsewhere", tenant_id=TENANT)
    async with aiohttp.ClientSession() as http:
        for n in range(count):
            url = f"{fake.url}v3/conversations/19:elsewhere/activities"
            async with http.post(url, json={"type": "message", "text": f"n{n}"}) as response:
                assert response.status == 201


async def test_a_reply_into_a_full_tenant_window_goes_once_the_window_has_room(
    db: Database,
    clock: Clock,
    settings_factory: Callable[..., Settings],
    harsh_teams: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    runner, url = await serve(create_app(settings_factory(), db=db, clock=clock))
    try:
        user = TeamsUser(bot_url=url, connector=harsh_teams, session=http)
        await user.install()
        await fill_tenant_window(harsh_teams, 4)  # with the welcome card: 5, the limit
        result = await user.say("start")
    finally:
        await runner.cleanup()
    assert result.status < 300
    refused = [v for v in harsh_teams.violations if v.kind == "reply"]
    assert refused, "the window was not full when the reply came: the test proves nothing"
    assert question_cards(user, harsh_teams) == [1]
    assert question_number(user.last_card()[1]) == 1
    assert not apologised(user)
    assert harsh_teams.duplicates() == 0


async def test_a_reply_during_a_fan_out_goes_first_and_the_sender_makes_room(
    db: Database,
    clock: Clock,
    settings_factory: Callable[..., Settings],
    http: aiohttp.ClientSession,
) -> None:
    """The outbox sender keeps the tenant's window full (an opening's invitations), and a person
    in that tenant types start. Their reply goes first in the process's one budget: it arrives,
    once, and the sender, which counts it, never goes over the tenant's limit. On the old code
    the reply was refused 429 and not retried, or, arriving between two of the sender's
    requests, took room the sender did not know of, and the sender's next request was over
    the limit. Real time: the sender runs at 10 requests a second for about 3 s."""
    limit, messages = 10, 30
    fake = FakeConnector(limits=TeamsLimits(per_tenant=((limit, 1.0),)))
    await fake.start()
    settings = settings_factory(per_tenant_per_second=limit)
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    sender = OutboxSender.from_settings(
        settings, db, limiter=app[LIMITER_KEY], turns=app[TURNS_KEY]
    )
    try:
        user = TeamsUser(bot_url=url, connector=fake, session=http)
        await user.install()
        queue_channel_messages(db, fake, messages)
        draining = asyncio.create_task(sender.run(asyncio.Event(), until_empty=True))
        # a full window, and more to come
        await fake.wait_for(lambda: len(fake.received()) >= limit + 2)
        result = await user.say("start")
        await asyncio.wait_for(draining, 30)
    finally:
        await sender.aclose()
        await runner.cleanup()
        await fake.stop()
    assert result.status < 300
    assert question_cards(user, fake) == [1]
    assert not apologised(user)
    senders_over = [v.describe() for v in fake.violations if v.kind != "reply"]
    assert senders_over == []
    prompts = [c for c in fake.calls if c.conversation_id.startswith("19:channel-")]
    assert sorted(c.body["text"] for c in prompts if c.status == 201) == sorted(
        f"prompt {n}" for n in range(messages)
    )  # each of the sender's messages, once
    assert fake.duplicates() == 0


def queue_channel_messages(db: Database, fake: FakeConnector, count: int) -> None:
    def work(session: Any) -> None:
        for n in range(count):
            channel = f"19:channel-{n}@thread.tacv2"
            fake.add_conversation(channel, tenant_id=TENANT)
            outbox.enqueue(
                session, dedupe_key=f"prompt:{n}", kind="huddle_prompt", tenant_id=TENANT,
                target=Target.conversation(channel, fake.url),
                activity={"type": "message", "text": f"prompt {n}"}, now=utcnow(),
            )  # fmt: skip

    db.run_sync(work)


@pytest.mark.parametrize("answer", [502, 504])
async def test_a_reply_teams_delivered_and_then_answered_an_error_is_not_sent_twice(
    teams_user: Callable[..., TeamsUser],
    connector: FakeConnector,
    answer: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Teams has no idempotency key: a reply sent again after a 502/504 that came after it
    was delivered would show the person the card twice. It is not sent again (and the turn does
    not apologise: nothing failed that the person did)."""
    user = teams_user()
    await user.install()
    connector.deliver_then_fail_next(1, answer)
    with caplog.at_level(logging.WARNING, logger="bot.replies"):
        result = await user.say("start")
    assert result.status < 300
    assert question_cards(user, connector) == [1]
    assert connector.duplicates() == 0
    assert not apologised(user)
    assert "Teams may have delivered it" in caplog.text


async def test_an_answer_whose_next_card_teams_keeps_refusing_is_kept_and_the_person_resumes(
    teams_user: Callable[..., TeamsUser],
    connector: FakeConnector,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Teams refuses every request to the chat for longer than a turn may wait (Retry-After
    30 s). The answer is saved before the reply, the presser still gets their settled card (the
    invoke's answer, which Teams does not rate-limit), the failure is logged, and when Teams
    takes messages again, "resume" brings the next question, the answer kept."""
    user = teams_user()
    await start(user)
    throttled = Failure(429, "Throttled", retry_after=30, kinds=TURN_REQUESTS)
    connector.fail_conversation(user.conversation_id, throttled)
    with caplog.at_level(logging.ERROR, logger="bot.replies"):
        result = await user.press("Next", {"level": "3", "comment": "Weekly huddles"})
    assert result.status == 200
    assert isinstance(result.body, dict)
    assert result.body.get("type") == "application/vnd.microsoft.card.adaptive"
    assert "was not sent" in caplog.text
    assert answers_in_db(db, user) == {1: (3, "Weekly huddles")}
    assert not apologised(user)

    connector.fail_conversation(user.conversation_id, None)
    result = await user.say("resume")
    assert result.status < 300
    assert question_number(user.last_card()[1]) == 2
    assert answers_in_db(db, user) == {1: (3, "Weekly huddles")}


async def test_a_card_teams_delivered_without_saying_so_loses_nothing_typed_on_it(
    teams_user: Callable[..., TeamsUser], connector: FakeConnector, db: Database
) -> None:
    """The next question was delivered, then answered 502, so it is not the person's recorded
    live card. A press on it records nothing, says so, and posts the current card below with
    what they had typed on it; the answer before it is kept."""
    user = teams_user()
    await start(user)
    connector.deliver_then_fail_next(1, 502)
    assert (await user.press("Next", {"level": "3", "comment": ""})).status == 200
    _id, card = user.last_card()
    assert question_number(card) == 2  # delivered, though Teams answered 502
    result = await user.press("Next", {"level": "4", "comment": "kept words"})
    assert result.status == 200
    assert isinstance(result.body, dict)
    assert "out of date" in card_text(result.body["value"])
    _id, card = user.last_card()
    assert question_number(card) == 2
    assert "kept words" in card_text(card)
    assert answers_in_db(db, user) == {1: (3, None)}
    assert connector.duplicates() == 0
    assert (await user.press("Next", {"level": "4", "comment": "kept words"})).status == 200
    assert answers_in_db(db, user) == {1: (3, None), 2: (4, "kept words")}
    assert question_number(user.last_card()[1]) == 3


# -- a request Teams accepts and never answers ----------------------------------------------------

REPLY_TIMEOUT = 0.5  # the test's IMPACT_REPLY_TIMEOUT_SECONDS (10 by default)
TURN_BOUND = 5.0  # the turn's HTTP answer, well within: the old code waited for msrest's 100 s


@pytest.fixture
async def hasty_user(
    db: Database,
    clock: Clock,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> AsyncIterator[TeamsUser]:
    """A person talking to the service with a short request timeout (the setting's small)."""
    app = create_app(settings_factory(reply_timeout_seconds=REPLY_TIMEOUT), db=db, clock=clock)
    runner, url = await serve(app)
    yield TeamsUser(bot_url=url, connector=connector, session=http)
    await runner.cleanup()


async def test_a_reply_teams_accepts_and_never_answers_ends_the_turn_within_the_bound(
    hasty_user: TeamsUser, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams delivers the question card and never answers. The turn gives up after the request
    timeout, not msrest's 100 s; the card is not sent again (it was delivered); the turn does
    not apologise (nothing failed that the person did) but logs why; and "resume" brings the
    question again, so the person is never left without a way on."""
    user = hasty_user
    await user.install()
    connector.deliver_then_fail_next(1, "timeout")
    with caplog.at_level(logging.WARNING, logger="bot.replies"):
        result = await asyncio.wait_for(user.say("start"), TURN_BOUND)
    assert result.status < 300
    assert question_cards(user, connector) == [1]  # delivered once, not sent again
    assert connector.duplicates() == 0
    assert not apologised(user)
    assert "no answer from Teams" in caplog.text
    assert "Teams may have delivered it" in caplog.text

    result = await asyncio.wait_for(user.say("resume"), TURN_BOUND)
    assert result.status < 300
    assert question_number(user.last_card()[1]) == 1
    assert connector.duplicates() == 0  # the new card is the current one, drawn anew


async def test_an_update_teams_applies_and_never_answers_ends_the_turn_within_the_bound(
    hasty_user: TeamsUser,
    connector: FakeConnector,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An Action.Submit press (Teams' older clients): the used card's update is applied and
    never answered. The turn ends within the bound, making no further request to Teams once one
    went unanswered (each would wait as long); the answer is kept, and the person's next message
    carries on from the next question."""
    user = hasty_user
    await start(user)
    connector.deliver_then_fail_next(1, "timeout", kinds=frozenset({"update"}))
    before = len(connector.calls)
    with caplog.at_level(logging.WARNING, logger="bot.replies"):
        result = await asyncio.wait_for(
            user.press("Next", {"level": "3", "comment": ""}, via="submit"), TURN_BOUND
        )
    assert result.status < 300
    assert [call.kind for call in connector.calls[before:]] == ["update"]  # once, nothing after
    assert "no answer from Teams" in caplog.text
    assert answers_in_db(db, user) == {1: (3, None)}
    assert not apologised(user)

    result = await asyncio.wait_for(user.say("resume"), TURN_BOUND)
    assert result.status < 300
    assert question_number(user.last_card()[1]) == 2
    assert connector.duplicates() == 0
