"""The self-assessment conversation end to end: real aiohttp service, real CloudAdapter, real
database (SQLite and PostgreSQL), HTTP on loopback, fake Bot Connector standing in for Teams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.config import Settings
from framework.reading import reading_minutes
from impact.service import create_app
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.people import ConversationRef, Person
from tests.bot.dialogs.assessment_chat import (
    FRAMEWORK,
    QUESTIONS,
    answer_all,
    answers_in_db,
    level_title,
    live_cards,
    question_number,
    shown,
    start,
)
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_of, card_text, find_action

pytestmark = pytest.mark.service

# ---- the happy path -------------------------------------------------------------------------


async def test_welcome_on_install_says_what_and_how_long(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    await user.install()
    _, card = user.last_card()
    text = card_text(card)
    assert "22 questions" in text
    fewest, most = reading_minutes(FRAMEWORK)
    assert (fewest, most) == (15, 20)  # 4,247 words at 200 to 250 a minute
    assert f"about {fewest}–{most} minutes, in as many sittings as you like" in text
    assert "Only you can see your individual answers" in text
    assert [a["title"] for a in card["actions"]] == ["Start", "Help"]


async def test_question_card_shows_the_framework_content(user: TeamsUser) -> None:
    _, card = user.last_card()
    text = card_text(card)
    assert "Question 1 of 22 · Building a shared purpose and vision" in text
    assert "Board and executives setting the shared purpose and vision" in text
    levels = [e for e in card["body"] if e.get("selectAction")]
    assert [e["selectAction"]["data"]["level"] for e in levels] == [1, 2, 3, 4, 5]
    assert card_text(levels[0]).startswith("○ Starting\nWe are starting to develop a shared vision")
    assert card_text(levels[4]).startswith("○ Improving and sustaining\nOur vision and shared")
    practice = find_action(card, "What this looks like in practice")
    assert practice["type"] == "Action.ShowCard"
    assert "Create a vision and shared purpose" in card_text(practice["card"])


@pytest.mark.parametrize("via", ["execute", "submit"])
async def test_complete_assessment_review_submit_profile(
    user: TeamsUser, db: Database, connector: FakeConnector, via: str
) -> None:
    await answer_all(user, lambda n: (n % 5) + 1, via=via, tap=True)

    _, review = user.last_card()
    assert "Check your answers" in card_text(review)
    assert "You answered 22 of 22" in card_text(review)
    stored = answers_in_db(db, user)
    assert {q: level for q, (level, _c) in stored.items()} == {n: (n % 5) + 1 for n in range(1, 23)}

    await user.press("Submit my answers", via=via)
    _, profile = user.last_card()
    text = card_text(profile)
    assert "Thank you, Alex" in text
    assert "only you can see your individual answers" in text
    assert "Building a shared purpose and vision" in text
    assert "Overall" in text

    def status(session: Any) -> str:
        return session.exec(select(Assessment.status)).one()

    assert db.run_sync(status) == "submitted"
    # every used card settled in place, with no live buttons left on it
    settled = [card for _id, card in user.cards() if "✓ Saved" in card_text(card)]
    assert len(settled) == QUESTIONS
    assert all("actions" not in card for card in settled)
    if via == "submit":  # each level tap, each Next and the submit update their card
        assert sum(1 for c in connector.calls if c.kind == "update") == 2 * QUESTIONS + 1


async def test_comment_is_stored_as_plain_text_and_shown_verbatim(
    user: TeamsUser, db: Database
) -> None:
    card_id, _ = user.last_card()
    comment = "**not bold** <b>x</b>\x07 line\nnext"
    await user.press("Next", {"level": "2", "comment": comment})
    assert answers_in_db(db, user)[1] == (2, "**not bold** <b>x</b> line\nnext")
    settled = card_of(user.connector.activity(user.conversation_id, card_id))
    assert settled is not None
    runs = [
        inline["text"]
        for element in settled["body"]
        if element["type"] == "RichTextBlock"
        for inline in element["inlines"]
    ]
    assert "**not bold** <b>x</b> line\nnext" in runs


async def test_back_skip_and_change_before_submit(user: TeamsUser, db: Database) -> None:
    await user.press("Next", {"level": "1"})
    await user.press("Skip")
    _, card = user.last_card()
    assert question_number(card) == 3
    await user.press("Back")
    _, card = user.last_card()
    assert question_number(card) == 2
    await user.press("Back")
    _, card = user.last_card()
    assert question_number(card) == 1
    assert "● Starting · your answer" in card_text(card)  # the recorded answer is marked
    assert find_action(card, "Next")["data"]["level"] == 1  # and Next keeps it
    await user.press(level_title(1, 4))
    _, card = user.last_card()
    assert "● Spreading · your choice" in card_text(card)
    await user.press("Next", {"comment": "changed"})
    _, card = user.last_card()
    assert question_number(card) == 3, "after going back, Next returns to where the person was"
    assert answers_in_db(db, user) == {1: (4, "changed"), 2: (None, None)}

    def revision_of_q1(session: Any) -> int:
        return session.exec(select(Answer.revision).where(Answer.question_number == 1)).one()

    assert db.run_sync(revision_of_q1) == 2


async def test_change_from_review_then_submit(user: TeamsUser, db: Database) -> None:
    await answer_all(user, lambda _n: 2)
    await user.press("Change answer", {"change_q": "7"})
    _, card = user.last_card()
    assert question_number(card) == 7
    await user.press("Next", {"level": "5"})
    _, card = user.last_card()
    assert "Check your answers" in card_text(card), "back to the review after a change"
    await user.press("Submit my answers")
    assert answers_in_db(db, user)[7] == (5, None)


async def test_resume_after_service_restart(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> None:
    first_app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(first_app)
    user = TeamsUser(bot_url=url, connector=connector, session=http)
    await start(user)
    for level in (3, 4, 5):
        await user.press("Next", {"level": str(level)})
    await runner.cleanup()  # the service stops; days pass

    second_app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(second_app)
    try:
        user.bot_url = url
        await user.say("resume")
        _, card = user.last_card()
        assert question_number(card) == 4
        await user.press("Next", {"level": "1"})
        assert answers_in_db(db, user) == {1: (3, None), 2: (4, None), 3: (5, None), 4: (1, None)}
    finally:
        await runner.cleanup()


async def test_resume_goes_to_the_first_unanswered_even_after_going_back(user: TeamsUser) -> None:
    for _ in range(4):
        await user.press("Next", {"level": "3"})
    await user.press("Back")
    await user.press("Back")
    await user.say("resume")
    _, card = user.last_card()
    assert question_number(card) == 5


# ---- stale, duplicate, out of order ---------------------------------------------------------


async def test_double_tap_records_once(
    user: TeamsUser, db: Database, connector: FakeConnector
) -> None:
    card_id, card = user.last_card()
    action = find_action(card, "Next")
    first, second = await asyncio.gather(
        user.press_action(card_id, action, {"level": "3"}),
        user.press_action(card_id, action, {"level": "3"}),
    )
    assert first.status == second.status == 200
    assert answers_in_db(db, user) == {1: (3, None)}
    [live] = live_cards(user)  # one live card: question 2
    assert question_number(live) == 2
    assert any("already saved" in card_text(c).lower() for _i, c in user.cards())


async def test_teams_retry_of_the_same_invoke_records_once(user: TeamsUser, db: Database) -> None:
    card_id, card = user.last_card()
    data = {**find_action(card, "Next")["data"], "level": "4", "comment": "once"}
    await user.execute(card_id, "answer", data)
    await user.execute(card_id, "answer", data)
    assert answers_in_db(db, user) == {1: (4, "once")}

    def answer_rows(session: Any) -> int:
        return session.exec(select(sa.func.count()).select_from(Answer)).one()

    assert db.run_sync(answer_rows) == 1


async def test_stale_card_changes_nothing_and_shows_the_current_card(
    user: TeamsUser, db: Database
) -> None:
    q1_id, q1 = user.last_card()
    old_next = find_action(q1, "Next")
    await user.press("Next", {"level": "2"})
    await user.press("Next", {"level": "2"})
    # an old card (from an earlier pass) with a different level
    result = await user.press_action(q1_id, old_next, {"level": "5"})
    assert result.status == 200
    assert answers_in_db(db, user) == {1: (2, None), 2: (2, None)}
    _, current = user.last_card()
    assert question_number(current) == 3
    assert "out of date" in card_text(current)


async def test_out_of_order_submit_for_a_later_question_is_refused(
    user: TeamsUser, db: Database
) -> None:
    card_id, card = user.last_card()
    data = {**find_action(card, "Next")["data"], "q": 9, "level": "3"}
    await user.execute(card_id, "answer", data)
    assert answers_in_db(db, user) == {}
    _, current = user.last_card()
    assert question_number(current) == 1


async def test_after_submit_old_cards_cannot_change_answers(user: TeamsUser, db: Database) -> None:
    q1_id, q1 = user.last_card()
    action = find_action(q1, "Next")
    await answer_all(user, lambda _n: 3)
    await user.press("Submit my answers")
    await user.press_action(q1_id, action, {"level": "1"})
    assert answers_in_db(db, user)[1] == (3, None)
    assert "already been submitted" in "\n".join(card_text(c) for _i, c in user.cards())


# ---- forged and malformed -------------------------------------------------------------------


FORGERIES: list[tuple[str, dict[str, Any], str]] = [
    ("level out of range", {"level": "7"}, "level"),
    ("level not a number", {"level": "abc"}, "level"),
    ("level as a list", {"level": ["3"]}, "level"),
    ("question id negative", {"q": -4, "level": "3"}, "q"),
    ("assessment id text", {"aid": "1; DROP TABLE answers", "level": "3"}, "aid"),
    ("unknown verb", {"verb": "delete_everything"}, "verb"),
    ("huge comment", {"level": "3", "comment": "x" * 5000}, "cut to 1,000 characters"),
    ("huge string anywhere", {"level": "3", "comment": "y" * 100_000}, "comment"),
]


@pytest.mark.parametrize(("case", "change", "expected"), FORGERIES, ids=[f[0] for f in FORGERIES])
async def test_forged_or_malformed_submit_changes_nothing(
    user: TeamsUser,
    db: Database,
    case: str,
    change: dict[str, Any],
    expected: str,
) -> None:
    card_id, card = user.last_card()
    data = {**find_action(card, "Next")["data"], **change}
    result = await user.execute(card_id, str(data.get("verb")), data)
    assert result.status == 200
    assert answers_in_db(db, user) == {}
    # the person is left on their live question card, with a one-line note above it
    now = shown(user, card_id)
    text = card_text(now)
    assert "Nothing was changed" in text
    assert expected in text
    assert "type resume" not in text
    assert question_number(now) == 1
    assert now["body"][0]["style"] == "warning"  # the note, above the question
    assert len(live_cards(user)) == 1
    if "comment" in change:  # what they typed is kept, cut to the limit
        comment = next(e for e in now["body"] if e.get("id") == "comment")
        assert comment["value"] == str(change["comment"])[:1000]
        assert comment["maxLength"] == 1000
        assert "Your comment was cut to 1,000 characters" in text


async def test_another_persons_assessment_cannot_be_touched(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    owner = teams_user(name="Owner One")
    intruder = teams_user(name="Intruder Two")
    await start(owner)
    await start(intruder)
    _, owner_card = owner.last_card()
    stolen = {**find_action(owner_card, "Next")["data"], "level": "1"}
    intruder_card_id, _ = intruder.last_card()
    for via_data in (stolen, {**stolen, "verb": "submit"}, {**stolen, "verb": "restart"}):
        await intruder.execute(intruder_card_id, str(via_data["verb"]), via_data)
    assert answers_in_db(db, owner) == {}
    assert answers_in_db(db, intruder) == {}
    assert "not part of your assessment" in card_text(intruder.last_card()[1]) or any(
        "not part of your assessment" in card_text(c) for _i, c in intruder.cards()
    )


async def test_invoke_without_data_and_message_with_odd_value(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    await user.install()
    card_id, _ = user.last_card()
    result = await user.post(
        user.activity(type="invoke", name="adaptiveCard/action", value={"nonsense": True})
    )
    assert result.status == 200
    assert result.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Nothing was changed" in card_text(result.body["value"])
    result = await user.post(
        user.activity(type="message", value="just a string", replyToId=card_id)
    )
    assert result.status == 201
    assert "Nothing was changed" in card_text(user.last_card()[1])


async def test_malformed_http_bodies_get_a_clear_status(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    assert user.session is not None
    url = f"{user.bot_url}/api/messages"
    async with user.session.post(
        url, data="not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert "activity" in (await r.json())["error"]
    async with user.session.post(url, data="x", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415
    async with user.session.post(url, json={"no": "type"}) as r:
        assert r.status == 400
    async with user.session.post(url, json=[1, 2]) as r:
        assert r.status == 400


# ---- tenants, commands, errors --------------------------------------------------------------


async def test_activity_from_a_tenant_outside_the_allow_list_is_refused(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings_factory(allowed_tenants="tenant-ours"), db=db, clock=clock)
    runner, url = await serve(app)
    try:
        stranger = TeamsUser(
            bot_url=url, connector=connector, session=http, tenant_id="tenant-other"
        )
        await stranger.say("start")
        assert stranger.texts() == ["Sorry, this bot isn't available for your organisation."]
        result = await stranger.execute("x", "start", {"verb": "start"})
        assert result.status == 403
        assert "refused activity from tenant 'tenant-other'" in caplog.text

        def people(session: Any) -> int:
            return session.exec(select(sa.func.count()).select_from(Person)).one()

        assert db.run_sync(people) == 0
        ours = TeamsUser(bot_url=url, connector=connector, session=http, tenant_id="tenant-ours")
        await ours.say("start")
        assert question_number(ours.last_card()[1]) == 1
    finally:
        await runner.cleanup()


async def test_text_commands(teams_user: Callable[..., TeamsUser], db: Database) -> None:
    user = teams_user()
    await user.say("help")
    assert "What I can do" in card_text(user.last_card()[1])
    await user.say("status")
    assert "haven't started" in card_text(user.last_card()[1])
    before = len(user.cards())
    await user.say("what is this?")
    assert len(user.cards()) == before + 1  # one short message, not the whole help card
    _, card = user.last_card()
    assert "didn't understand “what is this?”" in card_text(card)
    assert [a["title"] for a in card["actions"]] == ["Start", "Help"]
    await user.say("START")
    await user.press("Next", {"level": "3"})
    await user.say("status")
    assert "You have answered 1 of 22; you are on question 2 of 22." in card_text(
        user.last_card()[1]
    )

    # restart asks first; "No" carries on, "Yes" sets the answers aside
    await user.say("restart")
    assert "Start again?" in card_text(user.last_card()[1])
    await user.press("No, carry on")
    assert question_number(user.last_card()[1]) == 2
    await user.say("restart")
    await user.press("Yes, start again")
    assert question_number(user.last_card()[1]) == 1
    assert answers_in_db(db, user) == {}

    def statuses(session: Any) -> list[str]:
        return sorted(session.exec(select(Assessment.status)).all())

    assert db.run_sync(statuses) == ["abandoned", "in_progress"]


async def test_conversation_reference_is_stored_for_proactive_messages(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    await user.install()

    def refs(session: Any) -> list[ConversationRef]:
        return list(session.exec(select(ConversationRef)).all())

    [ref] = db.run_sync(refs)

    def person(session: Any) -> Person:
        return session.exec(select(Person)).one()

    stored = db.run_sync(person)
    assert (stored.teams_user_id, stored.aad_object_id, stored.time_zone) == (
        user.user_id,
        user.aad_object_id,
        "Europe/London",
    )
    assert ref.conversation_id == user.conversation_id
    assert ref.scope == "personal"
    reference = json.loads(ref.reference)
    assert reference["serviceUrl"] == user.connector.url
    assert reference["user"]["id"] == user.user_id


async def test_broken_database_gets_a_clear_apology_and_loses_nothing(
    user: TeamsUser, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await user.press("Next", {"level": "3"})
    card_id, card = user.last_card()
    action = find_action(card, "Next")

    def broken(_session: Any) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    # The database breaks at its first statement, in a transaction or standing alone (an
    # answer on PostgreSQL): nothing was written, and the apology says so.
    original, alone = db.run_sync, db.run_alone_sync
    db.run_sync = lambda work: original(broken)  # type: ignore[method-assign]
    db.run_alone_sync = lambda work, **kw: alone(broken, **kw)  # type: ignore[method-assign]
    try:
        result = await user.press_action(card_id, action, {"level": "4"})
    finally:
        db.run_sync, db.run_alone_sync = original, alone  # type: ignore[method-assign]
    assert result.status == 200
    assert result.body["type"] == "application/vnd.microsoft.error"
    apology = user.texts()[-1]
    assert "can't reach my database" in apology
    assert "ref " in apology
    assert "Traceback" not in apology
    assert "turn failed [ref" in caplog.text
    assert answers_in_db(db, user) == {1: (3, None)}
    # and once it is back, the same card still works
    await user.press_action(card_id, action, {"level": "4"})
    assert answers_in_db(db, user) == {1: (3, None), 2: (4, None)}


async def test_health_and_readiness(bot_url: str, http: Any, db: Database) -> None:
    async with http.get(f"{bot_url}/healthz") as r:
        assert r.status == 200
    async with http.get(f"{bot_url}/readyz") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ready"
    from store.schema import downgrade

    downgrade(db.engine, "base")
    async with http.get(f"{bot_url}/readyz") as r:
        assert r.status == 503
        assert "out of date" in (await r.json())["reason"]


async def test_the_assessment_never_runs_in_a_channel_or_group_chat(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    for kind in ("channel", "groupChat"):
        conversation = {
            "id": user.conversation_id,
            "conversationType": kind,
            "tenantId": user.tenant_id,
        }
        await user.post(user.activity(type="message", text="start", conversation=conversation))
        assert "privately, in a 1:1 chat" in card_text(user.last_card()[1])
        result = await user.post(
            user.activity(
                type="invoke",
                name="adaptiveCard/action",
                conversation=conversation,
                value={"action": {"type": "Action.Execute", "verb": "start", "data": {}}},
            )
        )
        assert "privately, in a 1:1 chat" in card_text(result.body["value"])

    def people(session: Any) -> int:
        return session.exec(select(sa.func.count()).select_from(Person)).one()

    assert db.run_sync(people) == 0


async def test_buttons_pressed_without_their_choice_ask_again(
    user: TeamsUser, db: Database
) -> None:
    card_id, _ = user.last_card()
    await user.press("Next", {})  # a client that doesn't enforce isRequired
    text = card_text(shown(user, card_id))
    assert "Choose a level (or tap Skip) before Next. Nothing was changed." in text
    assert "Question 1 of 22" in text
    await answer_all(user, lambda _n: 2)
    review_id, _ = user.last_card()
    await user.press("Change answer", {})
    text = card_text(shown(user, review_id))
    assert "Choose the question you want to change" in text
    assert "Check your answers" in text
    assert len(answers_in_db(db, user)) == 22
