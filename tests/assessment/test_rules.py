"""The assessment state machine (assessment.rules): pure, no database, no bot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assessment.rules import (
    Back,
    Change,
    Choose,
    ChooseLevel,
    Decision,
    RecordAnswer,
    RecordedAnswer,
    Refusal,
    Refused,
    Skip,
    Snapshot,
    Status,
    Submit,
    check_choice,
    current_screen,
    decide,
    resume_position,
)

pytestmark = pytest.mark.unit

N = 22
ME = 7


def snap(
    position: int = 1,
    revision: int = 1,
    answers: dict[int, RecordedAnswer] | None = None,
    status: Status = Status.IN_PROGRESS,
) -> Snapshot:
    return Snapshot(1, ME, status, position, revision, N, answers or {})


def test_answer_records_and_moves_to_the_next_question() -> None:
    result = decide(snap(), ME, ChooseLevel(1, 3, "ok", token=1))
    assert result == Decision(
        position=2, status=Status.IN_PROGRESS, record=RecordAnswer(1, 3, "ok"), settled_question=1
    )


def test_answer_after_going_back_returns_to_where_the_person_was() -> None:
    answered = {n: RecordedAnswer(2) for n in range(1, 6)}
    result = decide(snap(position=2, answers=answered), ME, ChooseLevel(2, 4, None, token=1))
    assert isinstance(result, Decision)
    assert result.position == 6


def test_last_answer_goes_to_review() -> None:
    answered = {n: RecordedAnswer(2) for n in range(1, N)}
    result = decide(snap(position=N, answers=answered), ME, ChooseLevel(N, 5, None, token=1))
    assert isinstance(result, Decision)
    assert result.position == N + 1
    assert current_screen(replace(snap(), position=result.position)).kind == "review"


def test_skip_records_a_skip_but_keeps_an_existing_answer() -> None:
    first = decide(snap(), ME, Skip(1, token=1))
    assert isinstance(first, Decision)
    assert first.record == RecordAnswer(1, None, None)
    again = decide(snap(answers={1: RecordedAnswer(4)}), ME, Skip(1, token=1))
    assert isinstance(again, Decision)
    assert again.record is None
    assert again.position == 2


def test_back_moves_one_question_back_and_not_before_the_first() -> None:
    result = decide(snap(position=5), ME, Back(5, token=1))
    assert isinstance(result, Decision)
    assert result.position == 4
    assert decide(snap(position=1), ME, Back(1, token=1)) == Refused(Refusal.STALE, 1)


def test_back_from_review_goes_to_the_last_question() -> None:
    result = decide(snap(position=N + 1), ME, Back(N + 1, token=1))
    assert isinstance(result, Decision)
    assert result.position == N


def test_change_from_review_goes_to_that_question() -> None:
    result = decide(snap(position=N + 1), ME, Change(9, token=1))
    assert isinstance(result, Decision)
    assert result.position == 9
    # only from the review
    assert isinstance(decide(snap(position=3), ME, Change(9, token=1)), Refused)


def test_submit_only_from_review_and_only_with_an_answer() -> None:
    all_skipped = {n: RecordedAnswer(None) for n in range(1, N + 1)}
    assert decide(snap(N + 1, answers=all_skipped), ME, Submit(token=1)) == Refused(
        Refusal.NOTHING_ANSWERED
    )
    one = {**all_skipped, 4: RecordedAnswer(2)}
    result = decide(snap(N + 1, answers=one), ME, Submit(token=1, confirmed=True))
    assert isinstance(result, Decision)
    assert result.status is Status.SUBMITTED
    assert decide(snap(3, answers=one), ME, Submit(token=1)) == Refused(Refusal.STALE)


@pytest.mark.parametrize(
    ("answered", "asks"),
    [(22, False), (11, False), (10, True), (1, True)],  # asks when more than half are skipped
)
def test_submit_asks_once_when_more_than_half_are_skipped(answered: int, asks: bool) -> None:
    answers = {n: RecordedAnswer(3 if n <= answered else None) for n in range(1, N + 1)}
    state = snap(N + 1, answers=answers)
    assert state.skipped_count == N - answered
    first = decide(state, ME, Submit(token=1))
    assert (first == Refused(Refusal.MOSTLY_SKIPPED)) is asks
    confirmed = decide(state, ME, Submit(token=1, confirmed=True))
    assert isinstance(confirmed, Decision)
    assert confirmed.status is Status.SUBMITTED


def test_choosing_a_level_is_checked_like_an_answer_and_records_nothing() -> None:
    state = snap(position=3, revision=4, answers={1: RecordedAnswer(2), 2: RecordedAnswer(None)})
    assert check_choice(state, ME, Choose(3, 5, token=4)) is None
    assert check_choice(state, ME, Choose(3, 5, token=3)) == Refused(Refusal.STALE, 3)
    assert check_choice(state, ME, Choose(2, 5, token=4)) == Refused(Refusal.STALE, 2)
    assert check_choice(state, ME, Choose(N + 1, 5, token=4)) == Refused(Refusal.OUT_OF_RANGE)
    assert check_choice(state, ME, Choose(3, 6, token=4)) == Refused(Refusal.OUT_OF_RANGE)
    assert check_choice(state, ME + 1, Choose(3, 5, token=4)) == Refused(Refusal.NOT_YOURS)
    closed = replace(state, status=Status.SUBMITTED)
    assert check_choice(closed, ME, Choose(3, 5, token=4)) == Refused(Refusal.CLOSED)


def test_stale_token_is_refused() -> None:
    assert decide(snap(position=2, revision=5), ME, ChooseLevel(2, 3, None, token=4)) == Refused(
        Refusal.STALE, 2
    )


def test_double_tap_of_the_same_answer_is_already_recorded() -> None:
    state = snap(position=2, revision=2, answers={1: RecordedAnswer(3)})
    assert decide(state, ME, ChooseLevel(1, 3, None, token=1)) == Refused(
        Refusal.ALREADY_RECORDED, 1
    )
    # a different level on an old card is stale, not a duplicate
    assert decide(state, ME, ChooseLevel(1, 4, None, token=1)) == Refused(Refusal.STALE, 1)


def test_out_of_order_answer_with_a_current_token_is_refused() -> None:
    # the token is current but the card is for another question (forged or reordered)
    assert decide(snap(position=2), ME, ChooseLevel(5, 3, None, token=1)) == Refused(
        Refusal.STALE, 5
    )


def test_someone_elses_assessment_is_refused() -> None:
    assert decide(snap(), ME + 1, ChooseLevel(1, 3, None, token=1)) == Refused(Refusal.NOT_YOURS)


def test_submitted_assessment_is_closed() -> None:
    state = snap(position=N + 1, status=Status.SUBMITTED)
    assert decide(state, ME, ChooseLevel(1, 3, None, token=1)) == Refused(Refusal.CLOSED)


@pytest.mark.parametrize("level", [0, 6, -1, 99])
def test_levels_outside_the_scale_are_refused(level: int) -> None:
    assert decide(snap(), ME, ChooseLevel(1, level, None, token=1)) == Refused(
        Refusal.OUT_OF_RANGE, 1
    )


@pytest.mark.parametrize("question", [0, -3, N + 2, 10_000])
def test_questions_outside_the_framework_are_refused(question: int) -> None:
    assert decide(snap(), ME, ChooseLevel(question, 3, None, token=1)) == Refused(
        Refusal.OUT_OF_RANGE
    )


def test_resume_goes_to_the_first_question_with_nothing_recorded() -> None:
    answers = {1: RecordedAnswer(3), 2: RecordedAnswer(None), 4: RecordedAnswer(1)}
    assert resume_position(snap(position=1, answers=answers)) == 3
    everything = {n: RecordedAnswer(2) for n in range(1, N + 1)}
    assert resume_position(snap(answers=everything)) == N + 1
