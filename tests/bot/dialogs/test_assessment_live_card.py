"""Exactly one live question card per person, and no dead ends: whatever posts a question card
(resume, restart, change from the review, Start on an invitation, "No, carry on") updates the
one before it in place; a press on any older card, and every refusal, records nothing and leaves
the person on their current card, live, with a one-line note. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from store.assessments.tables import LiveCard
from store.db import Database
from store.people import Person
from tests.bot.dialogs.assessment_chat import (
    answer_all,
    answers_in_db,
    is_live,
    level_title,
    question_number,
    shown,
    start,
)
from tests.bot.dialogs.test_rounds_participation import round_with_staff  # noqa: F401
from tests.fakes.connector import Failure, FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text, find_action

pytestmark = pytest.mark.service


def stored_live_card(db: Database, user: TeamsUser) -> str:
    return db.run_sync(
        lambda s: s.exec(
            select(LiveCard.activity_id)
            .join(Person, Person.id == LiveCard.person_id)
            .where(Person.teams_user_id == user.user_id)
        ).one()
    )


def assert_one_live(user: TeamsUser, db: Database) -> tuple[str, dict[str, Any]]:
    """Exactly one card in the chat has live question or review buttons; it is the one the
    database holds as live, and the newest card in the chat."""
    live = [(card_id, card) for card_id, card in user.cards() if is_live(card)]
    assert len(live) == 1, [card_text(card).split("\n")[0] for _id, card in live]
    card_id, card = live[0]
    assert stored_live_card(db, user) == card_id
    return card_id, card


async def test_resume_three_times_leaves_one_live_copy(user: TeamsUser, db: Database) -> None:
    await user.press("Next", {"level": "2"})
    await user.press("Next", {"level": "2"})
    first_id, _card = assert_one_live(user, db)
    for _ in range(3):
        await user.say("resume")
        live_id, card = assert_one_live(user, db)
        assert question_number(card) == 3
        assert live_id == user.last_card()[0]
    earlier = shown(user, first_id)
    assert card_text(earlier).endswith("↓ Continued below.")
    assert "actions" not in earlier
    copies = [c for _i, c in user.cards() if question_number(c) == 3]
    assert len(copies) == 4  # the first, two continued below, the live one


async def test_restart_sets_the_old_card_aside_and_leaves_one_live(
    user: TeamsUser, db: Database
) -> None:
    await user.press("Next", {"level": "4"})
    old_id, _card = assert_one_live(user, db)
    await user.say("restart")
    confirm_id, _card = user.last_card()
    await user.press("Yes, start again")
    assert "✓ Started again" in card_text(shown(user, confirm_id))
    _live_id, card = assert_one_live(user, db)
    assert question_number(card) == 1
    assert card_text(shown(user, old_id)).endswith(
        "ⓘ No longer active: your current card is below."
    )


async def test_no_carry_on_says_carrying_on_and_leaves_one_live(
    user: TeamsUser, db: Database
) -> None:
    await user.press("Next", {"level": "4"})
    await user.say("restart")
    confirm_id, _card = user.last_card()
    await user.press("No, carry on")
    assert card_text(shown(user, confirm_id)) == "✓ Carrying on."
    _live_id, card = assert_one_live(user, db)
    assert question_number(card) == 2


async def test_change_from_the_review_then_resume_leaves_one_live(
    user: TeamsUser, db: Database
) -> None:
    await answer_all(user, lambda _n: 3)
    review_id, _card = assert_one_live(user, db)
    await user.press("Change answer", {"change_q": "7"})
    assert card_text(shown(user, review_id)).endswith("✓ You chose to change question 7.")
    _live_id, card = assert_one_live(user, db)
    assert question_number(card) == 7
    await user.say("resume")  # everything is answered: back to the review
    _live_id, card = assert_one_live(user, db)
    assert "Check your answers" in card_text(card)


async def test_start_on_an_invitation_leaves_one_live(
    round_with_staff: Any,  # noqa: F811
    db: Database,
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(1)
    await person.say("start")
    await person.press("Next", {"level": "3"})
    before_id, _card = assert_one_live(person, db)
    await person.execute("invitation", "start", {"verb": "start", "round": round_id})
    _live_id, card = assert_one_live(person, db)
    assert question_number(card) == 2
    assert card_text(shown(person, before_id)).endswith("↓ Continued below.")


async def test_a_press_on_an_old_card_records_nothing_and_gets_the_current_card(
    user: TeamsUser, db: Database
) -> None:
    q1_id, q1 = user.last_card()
    old_next = find_action(q1, "Next")
    old_tap = find_action(q1, level_title(1, 5))
    await user.press("Next", {"level": "2"})
    await user.press("Next", {"level": "2"})
    live_before, _card = assert_one_live(user, db)
    for action in (old_tap, old_next):  # a copy the client kept live (an update that failed)
        result = await user.press_action(q1_id, action, {"level": "5", "comment": "typed"})
        assert result.status == 200
        assert answers_in_db(db, user) == {1: (2, None), 2: (2, None)}
        live_id, card = assert_one_live(user, db)
        assert question_number(card) == 3
        assert "That card is out of date, so nothing was changed" in card_text(card)
        assert live_id != live_before
        assert card_text(shown(user, live_before)).endswith("↓ Continued below.")
        assert "out of date" in card_text(shown(user, q1_id))
        live_before = live_id


async def test_a_card_that_cannot_be_updated_does_not_fail_the_turn(
    user: TeamsUser, db: Database, connector: FakeConnector
) -> None:
    connector.fail_next(1, Failure(404, "ActivityNotFound", kinds=frozenset({"update"})))
    result = await user.say("resume")
    assert result.status in (200, 201)
    _live_id, card = user.last_card()
    assert question_number(card) == 1
    assert stored_live_card(db, user) == user.last_card()[0]


async def test_an_older_copy_still_live_on_a_client_records_nothing(
    user: TeamsUser, db: Database, connector: FakeConnector
) -> None:
    for title, inputs in ((level_title(1, 2), {}), ("Next", {"level": "2"})):
        old_id, _card = user.last_card()
        # the update that would settle the older copy does not get through
        connector.fail_next(1, Failure(404, "ActivityNotFound", kinds=frozenset({"update"})))
        await user.say("resume")
        assert is_live(shown(user, old_id))  # two copies, same revision, both look live
        result = await user.press(title, inputs, card_id=old_id)
        assert result.status == 200
        assert answers_in_db(db, user) == {}
        _live_id, card = assert_one_live(user, db)
        assert question_number(card) == 1
        assert "That card is out of date, so nothing was changed" in card_text(card)
    await user.press("Next", {"level": "2"})  # on the live card it records
    assert answers_in_db(db, user) == {1: (2, None)}


# ---- every refusal keeps the person on their live card --------------------------------------


async def pressed_on_live(
    user: TeamsUser, change: dict[str, Any], verb: str = "answer"
) -> dict[str, Any]:
    """Press Next (or another verb) on the live card with forged or refused data; returns the
    card shown in its place."""
    card_id, card = user.last_card()
    data = {**find_action(card, "Next")["data"], "verb": verb, **change}
    result = await user.execute(card_id, verb, data)
    assert result.status == 200
    return shown(user, card_id)


REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("stale revision", "answer", {"rev": 1, "level": "4"}, "out of date"),
    ("another question", "answer", {"q": 9, "level": "4"}, "out of date"),
    ("unknown assessment", "answer", {"aid": 987654, "level": "4"}, "not part of your assessment"),
    ("forged level", "answer", {"level": 9}, "level"),
    ("forged level chosen", "choose", {"level": "0"}, "level"),
    ("level of the wrong type", "answer", {"level": {"x": 1}}, "level"),
    ("revision of the wrong type", "skip", {"rev": "yesterday"}, "rev"),
    ("no question", "back", {"q": None}, "q"),
    ("submit before the review", "submit", {}, "out of date"),
    ("change before the review", "change", {"change_q": "4"}, "out of date"),
]


@pytest.mark.parametrize(("case", "verb", "change", "why"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_every_refusal_leaves_the_live_card_with_a_note(
    user: TeamsUser,
    db: Database,
    case: str,
    verb: str,
    change: dict[str, Any],
    why: str,
) -> None:
    await user.press("Next", {"level": "2"})
    now = await pressed_on_live(user, {**change, "comment": "I typed this"}, verb)
    text = card_text(now)
    assert question_number(now) == 2
    assert now["body"][0]["style"] == "warning"  # a one-line note above the question
    assert why in text
    assert "nothing was changed" in text.lower()
    assert answers_in_db(db, user) == {1: (2, None)}
    assert_one_live(user, db)
    comment = next(e for e in now["body"] if e.get("id") == "comment")
    if verb in ("answer", "choose"):  # the comment travels with these: it is kept
        assert comment["value"] == "I typed this"


async def test_a_foreign_assessment_leaves_the_intruder_on_their_own_card(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    owner, intruder = teams_user(name="Owner One"), teams_user(name="Intruder Two")
    await start(owner)
    await start(intruder)
    await intruder.press("Next", {"level": "1"})
    owners = find_action(owner.last_card()[1], "Next")["data"]
    for verb in ("answer", "choose", "skip", "back", "submit", "restart", "change"):
        card_id, _card = intruder.last_card()
        await intruder.execute(card_id, verb, {**owners, "verb": verb, "level": "5"})
        now = shown(intruder, card_id)
        assert question_number(now) == 2, verb
        assert "not part of your assessment" in card_text(now), verb
    assert answers_in_db(db, owner) == {}
    assert answers_in_db(db, intruder) == {1: (1, None)}
    assert_one_live(intruder, db)


async def test_a_comment_over_the_limit_is_kept_cut_with_a_note(
    user: TeamsUser, db: Database
) -> None:
    await user.press(level_title(1, 3))
    now = await pressed_on_live(user, {"comment": "é" * 1500, "level": 3})
    text = card_text(now)
    assert "Your comment was cut to 1,000 characters, the limit. Check it, then Next." in text
    comment = next(e for e in now["body"] if e.get("id") == "comment")
    assert comment["value"] == "é" * 1000
    assert "● Progressing · your choice" in text  # the level chosen is kept too
    assert answers_in_db(db, user) == {}
    await user.press("Next", {"comment": comment["value"]})
    assert answers_in_db(db, user) == {1: (3, "é" * 1000)}


async def test_choosing_a_level_shows_it_chosen_and_records_nothing_until_next(
    user: TeamsUser, db: Database, connector: FakeConnector
) -> None:
    card_id, _card = user.last_card()
    await user.press(level_title(1, 2), {"comment": "half typed"})
    now = shown(user, card_id)
    assert user.last_card()[0] == card_id  # the same card, in place
    assert "● Developing · your choice" in card_text(now)
    assert next(e for e in now["body"] if e.get("id") == "comment")["value"] == "half typed"
    assert answers_in_db(db, user) == {}
    await user.press(level_title(1, 4))  # a change of mind
    await user.press("Next", {"comment": "done"})
    assert answers_in_db(db, user) == {1: (4, "done")}
    assert "✓ Saved. Your answer: **Spreading**" in card_text(shown(user, card_id))


async def test_bad_data_from_someone_who_never_started_gets_start_and_help(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    await user.install()
    card_id, _card = user.last_card()
    await user.execute(card_id, "answer", {"verb": "answer", "aid": "x"})
    now = shown(user, card_id)
    assert "Nothing was changed" in card_text(now)
    assert [a["title"] for a in now["actions"]] == ["Start", "Help"]
