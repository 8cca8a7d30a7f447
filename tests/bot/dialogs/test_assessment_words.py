"""Everyday words and true confirmations in the conversation: stop, thanks and anything not
understood; the welcome, help and status in each state; submitting with gaps; restart after a
submit; the review and the profile. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from store.assessments.tables import Assessment
from store.db import Database
from tests.bot.dialogs.assessment_chat import (
    QUESTIONS,
    answers_in_db,
    level_title,
    question_number,
    shown,
    start,
)
from tests.bot.dialogs.test_rounds_participation import round_with_staff  # noqa: F401
from tests.fakes.teams_client import TeamsUser, card_text, find_action

pytestmark = pytest.mark.service


def buttons(card: dict[str, Any]) -> list[str]:
    return [action["title"] for action in card.get("actions") or []]


async def say_one(user: TeamsUser, text: str) -> dict[str, Any]:
    """Type `text`; exactly one card comes back, which is returned."""
    before = len(user.cards())
    await user.say(text)
    assert len(user.cards()) == before + 1, f"{text!r} got {len(user.cards()) - before} cards"
    return user.last_card()[1]


# ---- everyday words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["stop", "Pause", "later", "not now", "Stop!", "NOT NOW…", "@impact stop.",
     "<at>NHS IMPACT</at> pause"],
)  # fmt: skip
async def test_stop_pause_later_not_now_pause_with_one_line_and_resume(
    teams_user: Callable[..., TeamsUser], typed: str
) -> None:
    user = teams_user()
    await start(user)
    await user.press("Next", {"level": "3"})
    card = await say_one(user, typed)
    assert card_text(card).split("\n")[0] == (
        "Paused. Your answers so far are saved: tap Resume when you are ready."
    )
    assert buttons(card) == ["Resume"]
    await user.press("Resume")
    assert question_number(user.last_card()[1]) == 2


async def test_stop_before_starting_and_after_submitting(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    card = await say_one(user, "stop")
    assert card_text(card) == "All right. Type start whenever you are ready.\nStart"


@pytest.mark.parametrize("typed", ["thanks", "Thank you!", "cheers", "ta", "Thanks."])
async def test_thanks_gets_a_short_reply(teams_user: Callable[..., TeamsUser], typed: str) -> None:
    user = teams_user()
    card = await say_one(user, typed)
    assert card_text(card) == "You're welcome."


async def test_anything_not_understood_gets_one_short_message_with_likely_buttons(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    card = await say_one(user, "what now?")
    assert card_text(card).startswith("Sorry, I didn't understand “what now?”.")
    assert buttons(card) == ["Start", "Help"]
    await start(user)
    card = await say_one(user, "blah " * 30)
    assert "…”" in card_text(card)  # shortened
    assert buttons(card) == ["Resume", "Help"]
    assert "What I can do" not in card_text(card)


async def test_help_offers_resume_mid_assessment_and_welcome_counts_answers(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    card = await say_one(user, "help")
    assert buttons(card) == ["Start"]
    await start(user)
    card = await say_one(user, "Help?")
    assert buttons(card) == ["Resume"]
    await user.install()  # the welcome again, with nothing answered yet: Start, not Resume
    welcome = user.last_card()[1]
    assert "so far" not in card_text(welcome)
    assert buttons(welcome) == ["Start", "Help"]
    await user.say("resume")
    await user.press("Next", {"level": "2"})
    await user.install()
    welcome = user.last_card()[1]
    assert "You have answered 1 so far." in card_text(welcome)
    assert buttons(welcome) == ["Resume", "Help"]


async def test_status_in_each_state(teams_user: Callable[..., TeamsUser]) -> None:
    user = teams_user()
    assert "haven't started" in card_text(await say_one(user, "status"))
    await start(user)
    card = await say_one(user, "status")
    assert card_text(card).split("\n")[0] == (
        "You haven't answered any questions yet; you are on question 1 of 22."
    )
    await user.say("resume")
    await user.press("Skip")
    await user.press("Next", {"level": "2"})
    card = await say_one(user, "status")
    assert card_text(card).split("\n")[0] == (
        "You have answered 1 of 22 and skipped 1; you are on question 3 of 22."
    )


# ---- what each button says it did ------------------------------------------------------------


async def test_start_resume_and_help_buttons_say_what_happened(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    await user.install()
    welcome_id, _card = user.last_card()
    await user.press("Help")
    assert card_text(shown(user, welcome_id)) == "✓ Help is below."
    help_id, _card = user.last_card()
    await user.press("Start")
    assert card_text(shown(user, help_id)) == "✓ Starting."
    await user.press("Next", {"level": "2"})
    await user.say("stop")
    paused_id, _card = user.last_card()
    await user.press("Resume")
    assert card_text(shown(user, paused_id)) == "✓ Carrying on where you left off."


# ---- submitting with gaps ---------------------------------------------------------------------


async def answer_then_skip(user: TeamsUser, answered: dict[int, tuple[int, str | None]]) -> None:
    """Answer the given questions (level, comment) and skip every other one."""
    for number in range(1, QUESTIONS + 1):
        assert question_number(user.last_card()[1]) == number
        if number in answered:
            level, comment = answered[number]
            await user.press(level_title(number, level))
            await user.press("Next", {"comment": comment} if comment else {})
        else:
            await user.press("Skip")


async def test_submitting_with_most_skipped_asks_once_and_the_profile_says_not_enough(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    await start(user)
    long_comment = (
        "We run huddles on two wards and plan to spread them across the unit next year, "
        "once the new rota settles."
    )
    await answer_then_skip(user, {1: (5, long_comment), 2: (5, None), 5: (5, None), 9: (1, None)})
    review_id, review = user.last_card()
    text = card_text(review)
    assert "You answered 4 of 22 questions and skipped 18." in text
    assert "Building a shared purpose and vision · 2 of 4 skipped" in text
    assert "Investing in people and culture · 3 of 4 skipped" in text
    assert (
        "Your comment: \nWe run huddles on two wards and plan to spread them across the unit next "
        "year,…" in text
    )

    await user.press("Submit my answers")
    asked = shown(user, review_id)  # the same card, live, asking once
    assert "You skipped 18 of 22 questions" in card_text(asked)
    assert buttons(asked)[0] == "Submit anyway"
    assert db.run_sync(lambda s: s.exec(select(Assessment.status)).one()) == "in_progress"

    await user.press("Submit anyway", card_id=review_id)
    assert card_text(shown(user, review_id)).endswith("✓ Submitted (4 of 22 answered).")
    profile = card_text(user.last_card()[1])
    assert "**Improving and sustaining** (2 of 4 answered)" in profile
    assert "**Not enough answers** (1 of 4 answered)" in profile  # not a level from one answer
    assert "Overall: **Not enough answers** (4 of 22 answered)" in profile
    assert "A level is shown only where at least half of the questions were answered." in profile
    assert "What happens next." in profile
    assert answers_in_db(db, user)[1] == (5, long_comment)


async def test_submitting_with_half_answered_does_not_ask(
    teams_user: Callable[..., TeamsUser],
) -> None:
    user = teams_user()
    await start(user)
    await answer_then_skip(user, {n: (3, None) for n in range(1, 12)})
    await user.press("Submit my answers")
    assert "Thank you, Alex" in card_text(user.last_card()[1])


# ---- restart after a submit asks first --------------------------------------------------------


async def submitted(user: TeamsUser) -> None:
    await start(user)
    await answer_then_skip(user, {n: (2, None) for n in range(1, QUESTIONS + 1)})
    await user.press("Submit my answers")


async def test_restart_after_submitting_asks_first(
    teams_user: Callable[..., TeamsUser], db: Database
) -> None:
    user = teams_user()
    await submitted(user)
    card = await say_one(user, "restart")
    assert "Start a new self-assessment?" in card_text(card)
    assert buttons(card) == ["Yes, start a new one", "No, keep things as they are"]
    confirm_id, _card = user.last_card()
    await user.press("No, keep things as they are")
    assert card_text(shown(user, confirm_id)) == "✓ Nothing was changed."
    assert len(db.run_sync(lambda s: s.exec(select(Assessment)).all())) == 1

    await user.say("restart")
    confirm_id, _card = user.last_card()
    await user.press("Yes, start a new one")
    assert card_text(shown(user, confirm_id)) == (
        "✓ Started a new self-assessment. Your submitted answers stay as they are."
    )
    assert question_number(user.last_card()[1]) == 1
    statuses = db.run_sync(lambda s: sorted(s.exec(select(Assessment.status)).all()))
    assert statuses == ["in_progress", "submitted"]


# ---- the profile in a round --------------------------------------------------------------------


async def test_the_profile_in_a_round_says_when_the_results_come(
    round_with_staff: Any,  # noqa: F811
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(1)
    await person.execute("invitation", "start", {"verb": "start", "round": round_id})
    await answer_then_skip(person, {n: (4, None) for n in range(1, QUESTIONS + 1)})
    await person.press("Submit my answers")
    profile = person.last_card()[1]
    assert (
        "Your answers count for Winter 2026. Your team's results go to its Teams channel when "
        "the round closes on Wednesday 9 December; until then you can change your answers."
        in card_text(profile)
    )
    assert buttons(profile) == ["Change my answers"]
    guidance = find_action(profile, "What this looks like in practice")
    assert "Create a vision and shared purpose" in card_text(guidance["card"])
