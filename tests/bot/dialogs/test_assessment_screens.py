"""The words of every settled card (bot.dialogs.assessment_screens), for each verb and each
state it can be pressed in: what happened, and an answer only where there is one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from assessment.rules import (
    Back,
    Change,
    ChooseLevel,
    RecordedAnswer,
    Skip,
    Snapshot,
    Status,
    Submit,
)
from bot.dialogs.assessment_screens import Screens, first_sentence, shorten
from framework.content import default_framework
from framework.identity import Identity
from store.assessments.live_cards import ShownCard
from store.assessments.round_info import RoundTiming
from tests.fakes.teams_client import card_text

pytestmark = pytest.mark.unit

FRAMEWORK = default_framework()
N = FRAMEWORK.question_count
SCREENS = Screens(FRAMEWORK, ZoneInfo("Europe/London"), 1000)


def after(answers: dict[int, RecordedAnswer], position: int = 4) -> Snapshot:
    return Snapshot(7, 1, Status.IN_PROGRESS, position, 9, N, answers)


def lines(card: dict[str, Any]) -> list[str]:
    """What a settled card says below its question's place and title, a line per element."""
    said = [
        element.get("text") or "".join(run["text"] for run in element.get("inlines", []))
        for element in card["body"]
    ]
    return said[2:]


SAVED = RecordedAnswer(3, "our ward huddles daily")
SKIPPED = RecordedAnswer(None)


@pytest.mark.parametrize(
    ("command", "state", "expected"),
    [
        # Next: what was saved, with the comment
        (ChooseLevel(3, 3, "c", 8), {3: SAVED}, ["✓ Saved. Your answer: **Progressing**",
                                              "Your comment: our ward huddles daily"]),
        # Skip, nothing there before: "Skipped" once, no answer
        (Skip(3, 8), {3: SKIPPED}, ["✓ Skipped."]),
        # Skip on a question answered earlier: the answer is kept, and said
        (Skip(3, 8), {3: SAVED}, ["✓ Moved on; your answer is kept. Your answer: **Progressing**",
                                  "Your comment: our ward huddles daily"]),
        # Back from a question never answered: nothing about an answer
        (Back(3, 8), {}, ["✓ You went back to question 2."]),
        # Back from a skipped question: a skip is not an answer
        (Back(3, 8), {3: SKIPPED}, ["✓ You went back to question 2."]),
        # Back from a question answered earlier: that answer, said as this question's
        (Back(3, 8), {3: SAVED}, ["✓ You went back to question 2. Your answer to this question: "
                                  "**Progressing**", "Your comment: our ward huddles daily"]),
    ],
)  # fmt: skip
def test_a_question_card_settles_to_what_happened(
    command: ChooseLevel | Skip | Back, state: dict[int, RecordedAnswer], expected: list[str]
) -> None:
    card = SCREENS.settled_after(command, after(state))
    assert card_text(card).split("\n")[:2] == [
        "Question 3 of 22 · Building a shared purpose and vision",
        "Co-design and collaborate - celebrate and share successes",
    ]
    assert lines(card) == expected
    assert "actions" not in card


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (Submit(30), "✓ Submitted (2 of 22 answered)."),
        (Submit(30, confirmed=True), "✓ Submitted (2 of 22 answered)."),
        (Change(7, 30), "✓ You chose to change question 7."),
        (Back(N + 1, 30), "✓ You went back to question 22."),
    ],
)
def test_the_review_card_settles_to_what_happened(
    command: Submit | Change | Back, expected: str
) -> None:
    card = SCREENS.settled_after(command, after({1: SAVED, 2: SAVED, 3: SKIPPED}, N + 1))
    assert card_text(card).split("\n") == ["Check your answers", expected]
    assert "actions" not in card


def test_an_older_card_pressed_says_it_is_out_of_date_or_already_saved() -> None:
    state = after({2: SAVED})
    stale = SCREENS.pressed_out_of_date(state, 2, already_saved=False)
    assert lines(stale) == [
        "ⓘ This card is out of date, so nothing was changed: your current card is below."
    ]
    twice = SCREENS.pressed_out_of_date(state, 2, already_saved=True)
    assert lines(twice) == [
        "✓ Already saved. Your answer: **Progressing**",
        "Your comment: our ward huddles daily",
    ]
    never = SCREENS.pressed_out_of_date(state, 5, already_saved=True)  # nothing saved on 5
    assert lines(never)[0].startswith("ⓘ This card is out of date")
    unknown = SCREENS.pressed_out_of_date(None, None, already_saved=False)
    assert card_text(unknown).startswith("ⓘ This card is out of date")


def test_the_card_that_was_live_says_continued_below_or_set_aside() -> None:
    current = after({1: SAVED}, 2)
    same = SCREENS.continued(ShownCard("1:5", 7, 2), current)
    assert lines(same) == ["↓ Continued below."]
    review = SCREENS.continued(ShownCard("1:6", 7, N + 1), current)
    assert card_text(review).split("\n") == ["Check your answers", "↓ Continued below."]
    abandoned = SCREENS.continued(ShownCard("1:4", 6, 5), current)  # restarted since
    assert lines(abandoned) == ["ⓘ No longer active: your current card is below."]
    assert all("actions" not in card for card in (same, review, abandoned))


def test_a_question_shown_again_keeps_the_level_and_comment_the_person_had() -> None:
    from bot.dialogs.assessment_screens import Kept

    state = after({4: RecordedAnswer(2, "old")}, 4)
    again = SCREENS.question(state, 4, "note", Kept(5, "new words"))
    text = card_text(again)
    assert "● Improving and sustaining · your choice" in text
    comment = next(e for e in again["body"] if e.get("id") == "comment")
    assert comment["value"] == "new words"
    recorded = SCREENS.question(state, 4, None, None)
    assert "● Developing · your answer" in card_text(recorded)


def test_profile_lines_quote_the_seed_and_say_what_happens_next() -> None:
    # component 1: questions 1-4 at 3, 3, 4, skipped → median 3 (Progressing), from question 1
    answers = {1: RecordedAnswer(3), 2: RecordedAnswer(3), 3: RecordedAnswer(4), 4: SKIPPED,
               5: RecordedAnswer(5)}  # fmt: skip
    submitted = Snapshot(7, 1, Status.SUBMITTED, N + 1, 30, N, answers,
                         datetime(2026, 11, 25, 12, tzinfo=UTC))  # fmt: skip
    identity = Identity("t", "29:u", None, "Alex Morgan")
    card = SCREENS.profile(submitted, identity)
    text = card_text(card)
    meaning = first_sentence(FRAMEWORK.descriptor(1, 3))
    assert f"“{meaning}” (question 1)" in text
    assert "**Progressing** (3 of 4 answered)" in text
    assert "**Not enough answers** (1 of 4 answered)" in text  # component 2: question 5 only
    assert "A level is shown only where at least half of the questions were answered." in text
    assert "Choose one component to work on with your team" in text
    timing = RoundTiming("Winter 2026", "open", datetime(2026, 12, 11, 9, tzinfo=UTC), None)
    in_round = SCREENS.profile(submitted, identity, None, timing)
    assert (
        "Your answers count for Winter 2026. Your team's results go to its Teams channel when "
        "the round closes on Friday 11 December" in card_text(in_round)
    )
    closed = RoundTiming("Winter 2026", "closed", timing.closes_at, timing.closes_at)
    assert "Winter 2026 closed on Friday 11 December" in card_text(
        SCREENS.profile(submitted, identity, None, closed)
    )


def test_first_sentence_and_shorten() -> None:
    assert first_sentence("One thing (for example, this). Two things.") == (
        "One thing (for example, this)."
    )
    assert first_sentence("No full stop") == "No full stop"
    assert shorten("a  b\nc") == "a b c"
    assert shorten("x" * 100) == "x" * 79 + "…"
    assert shorten(None) is None
