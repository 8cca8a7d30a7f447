"""The self-assessment as an explicit state machine. Pure: no I/O, no botbuilder, no database.

A person's assessment is a snapshot (answers so far, where they are, a revision number). Every
command names the revision of the card it came from; `decide` either refuses it (stale card,
double tap, someone else's assessment, a submitted assessment, ...) or returns the changes to
store and the screen to show next. The store writes those changes only if the revision is still
the one the decision was made on, so two racing commands can never both be recorded.

Screens: a question (1..N), the review (all answers, change any, submit), finished (profile).

Choosing a level on a question card records nothing (`check_choice` only says whether the card
is still the live one); Next records the choice. Submitting with more than half the questions
skipped is refused once, to ask first; the confirmed submit goes through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    ABANDONED = "abandoned"
    SUPERSEDED = "superseded"  # a round's submission, submitted again: the later one counts


@dataclass(frozen=True)
class RecordedAnswer:
    level: int | None  # None: skipped
    comment: str | None = None

    @property
    def skipped(self) -> bool:
        return self.level is None


@dataclass(frozen=True)
class Snapshot:
    assessment_id: int
    person_id: int
    status: Status
    position: int  # 1..question_count: that question; question_count + 1: the review
    revision: int
    question_count: int
    answers: Mapping[int, RecordedAnswer] = field(default_factory=dict)
    submitted_at: datetime | None = None
    round_id: int | None = None

    @property
    def review_position(self) -> int:
        return self.question_count + 1

    def first_unanswered(self, after: int = 0) -> int | None:
        """The first question after `after` with nothing recorded (neither answered nor skipped)."""
        for number in range(after + 1, self.question_count + 1):
            if number not in self.answers:
                return number
        return None

    @property
    def answered_count(self) -> int:
        return sum(1 for answer in self.answers.values() if not answer.skipped)

    @property
    def skipped_count(self) -> int:
        """Questions without a level: skipped, or never reached."""
        return self.question_count - self.answered_count

    @property
    def mostly_skipped(self) -> bool:
        return self.skipped_count * 2 > self.question_count


# ---- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChooseLevel:
    """A level chosen (and maybe a comment) for one question: the command, not the stored row."""

    question: int
    level: int
    comment: str | None
    token: int


@dataclass(frozen=True)
class Skip:
    question: int
    token: int


@dataclass(frozen=True)
class Back:
    question: int  # the question the card showed; question_count + 1 for the review card
    token: int


@dataclass(frozen=True)
class Change:
    """From the review: go to a question to change its answer."""

    question: int
    token: int


@dataclass(frozen=True)
class Submit:
    token: int
    confirmed: bool = False  # the person was told how many they skipped, and submits anyway


@dataclass(frozen=True)
class Choose:
    """A level chosen on a question card, not yet recorded (Next records it)."""

    question: int
    level: int
    token: int


Command = ChooseLevel | Skip | Back | Change | Submit


# ---- outcomes -------------------------------------------------------------------------------


class Refusal(StrEnum):
    STALE = "stale"  # the card is from an earlier state
    ALREADY_RECORDED = "already_recorded"  # a double tap / retry of what is already stored
    NOT_YOURS = "not_yours"
    CLOSED = "closed"  # already submitted or abandoned
    OUT_OF_RANGE = "out_of_range"  # a question or level that does not exist
    NOTHING_ANSWERED = "nothing_answered"  # submit with every question skipped
    MOSTLY_SKIPPED = "mostly_skipped"  # submit with more than half skipped: ask first
    ROUND_CLOSED = "round_closed"  # reopening after the round closed
    ROUND_OVER = "round_over"  # answering or submitting in a round that has closed
    OTHER_OPEN = "other_open"  # reopening while another assessment is in progress


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    question: int | None = None


@dataclass(frozen=True)
class RecordAnswer:
    question: int
    level: int | None
    comment: str | None


@dataclass(frozen=True)
class Decision:
    """What to store and where the person goes next."""

    position: int
    status: Status
    record: RecordAnswer | None = None
    # the question whose card should now show what was recorded (no live buttons)
    settled_question: int | None = None

    def screen(self, question_count: int) -> Screen:
        if self.status is Status.SUBMITTED:
            return Screen.finished()
        if self.position > question_count:
            return Screen.review()
        return Screen.of_question(self.position)


@dataclass(frozen=True)
class Screen:
    kind: str  # question | review | finished
    question: int | None = None

    @staticmethod
    def of_question(number: int) -> Screen:
        return Screen("question", number)

    @staticmethod
    def review() -> Screen:
        return Screen("review")

    @staticmethod
    def finished() -> Screen:
        return Screen("finished")


# ---- the rules ------------------------------------------------------------------------------


def current_screen(snapshot: Snapshot) -> Screen:
    if snapshot.status is Status.SUBMITTED:
        return Screen.finished()
    if snapshot.position > snapshot.question_count:
        return Screen.review()
    return Screen.of_question(snapshot.position)


def resume_position(snapshot: Snapshot) -> int:
    """Where someone coming back continues: the first question with nothing recorded, else the
    review."""
    return snapshot.first_unanswered() or snapshot.review_position


def decide(snapshot: Snapshot, person_id: int, command: Command) -> Decision | Refused:
    """Check a command against the snapshot and say what to store, or why not."""
    if person_id != snapshot.person_id:
        return Refused(Refusal.NOT_YOURS)
    if snapshot.status is not Status.IN_PROGRESS:
        return Refused(Refusal.CLOSED)
    question = getattr(command, "question", None)
    if question is not None and not 1 <= question <= snapshot.review_position:
        return Refused(Refusal.OUT_OF_RANGE)
    if command.token != snapshot.revision:
        return _stale(snapshot, command)
    return _apply(snapshot, command)


def check_choice(snapshot: Snapshot, person_id: int, choice: Choose) -> Refused | None:
    """Whether a level may be chosen on this card: the same checks as an answer, nothing
    recorded."""
    if person_id != snapshot.person_id:
        return Refused(Refusal.NOT_YOURS)
    if snapshot.status is not Status.IN_PROGRESS:
        return Refused(Refusal.CLOSED)
    if not 1 <= choice.question <= snapshot.question_count or not 1 <= choice.level <= 5:
        return Refused(Refusal.OUT_OF_RANGE, None)
    if choice.token != snapshot.revision or choice.question != snapshot.position:
        return Refused(Refusal.STALE, choice.question)
    return None


def _stale(snapshot: Snapshot, command: Command) -> Refused:
    if isinstance(command, ChooseLevel):
        recorded = snapshot.answers.get(command.question)
        if recorded is not None and recorded.level == command.level:
            return Refused(Refusal.ALREADY_RECORDED, command.question)
    return Refused(Refusal.STALE, getattr(command, "question", None))


def _apply(snapshot: Snapshot, command: Command) -> Decision | Refused:
    on_screen = snapshot.position
    match command:
        case ChooseLevel(question=q, level=level, comment=comment):
            if q != on_screen or q > snapshot.question_count:
                return Refused(Refusal.STALE, q)
            if not 1 <= level <= 5:
                return Refused(Refusal.OUT_OF_RANGE, q)
            return _advance(snapshot, q, RecordAnswer(q, level, comment))
        case Skip(question=q):
            if q != on_screen or q > snapshot.question_count:
                return Refused(Refusal.STALE, q)
            # Skipping a question already answered (after going back) keeps the answer.
            record = None if q in snapshot.answers else RecordAnswer(q, None, None)
            return _advance(snapshot, q, record)
        case Back(question=q):
            if q != on_screen or q <= 1:
                return Refused(Refusal.STALE, q)
            return Decision(position=q - 1, status=Status.IN_PROGRESS, settled_question=q)
        case Change(question=q):
            if on_screen != snapshot.review_position or q > snapshot.question_count:
                return Refused(Refusal.STALE, q)
            return Decision(position=q, status=Status.IN_PROGRESS)
        case Submit():
            if on_screen != snapshot.review_position:
                return Refused(Refusal.STALE)
            if snapshot.answered_count == 0:
                return Refused(Refusal.NOTHING_ANSWERED)
            if snapshot.mostly_skipped and not command.confirmed:
                return Refused(Refusal.MOSTLY_SKIPPED)
            return Decision(position=on_screen, status=Status.SUBMITTED)
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def _advance(snapshot: Snapshot, question: int, record: RecordAnswer | None) -> Decision:
    """After answering or skipping: on to the next question with nothing recorded after this
    one (so Back, then Next, returns to where the person was), else the review."""
    answers = dict(snapshot.answers)
    if record is not None:
        answers[record.question] = RecordedAnswer(record.level, record.comment)
    after = replace(snapshot, answers=answers)
    position = after.first_unanswered(after=question) or after.review_position
    return Decision(
        position=position, status=Status.IN_PROGRESS, record=record, settled_question=question
    )
