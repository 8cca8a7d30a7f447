"""Storing people, their conversation references and their assessments.

Functions here take an open session (one transaction, see store.db) and are called through
`Database.run`; `AssessmentStore.act_alone`, an answer on PostgreSQL, takes a connection whose
statements each stand alone (`Database.run_autocommit`). The decisions themselves are
assessment.rules's; this module loads the snapshot it decides on and writes the decision with a
compare-and-set on the revision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from assessment.rules import (
    Choose,
    Command,
    Decision,
    RecordedAnswer,
    Refusal,
    Refused,
    Snapshot,
    Status,
    check_choice,
    decide,
    resume_position,
)
from framework.content import Framework
from framework.identity import Identity
from store.assessments.round_link import (
    cancel_nudges,
    open_participant,
    round_takes_answers,
    supersede_older,
)
from store.assessments.tables import Answer, Assessment, LiveCard
from store.db import about_to_write
from store.people import Person, ensure_person, find_person
from store.rounds.tables import Round

# The answer's two writes, built once (they run on every answer; building them per call was a
# tenth of its database CPU): the parameters named b_* pick the row, the others are SET.
_ASSESSMENTS: sa.Table = Assessment.__table__  # type: ignore[attr-defined]
_ANSWERS: sa.Table = Answer.__table__  # type: ignore[attr-defined]
_MOVE_ON = sa.update(_ASSESSMENTS).where(
    _ASSESSMENTS.c.id == sa.bindparam("b_id"),
    _ASSESSMENTS.c.revision == sa.bindparam("b_revision"),
)
_ANSWER_AGAIN = (
    sa.update(_ANSWERS)
    .where(
        _ANSWERS.c.assessment_id == sa.bindparam("b_assessment"),
        _ANSWERS.c.question_number == sa.bindparam("b_question"),
    )
    .values(revision=_ANSWERS.c.revision + 1)
)


def _typed(name: str, column: sa.Column[object]) -> sa.BindParameter[object]:
    return sa.bindparam(name, type_=column.type)


# The assessment's round is open, its row locked FOR SHARE, as round_link.round_takes_answers
# reads it in a transaction: for a statement that stands alone (act_alone), a close (an UPDATE of
# that row) running at the same moment waits for the statement, whose answer its results then
# include, or the statement waits for the close and finds the round closed. PostgreSQL runs this
# uncorrelated EXISTS once, before it touches the assessment's row (an InitPlan gating the
# update), so the round's lock comes first, as in the transaction.
_ROUNDS: sa.Table = Round.__table__  # type: ignore[attr-defined]
_ROUND_OPEN = sa.exists(
    sa.select(_ROUNDS.c.id)
    .where(_ROUNDS.c.id == sa.bindparam("b_round"), _ROUNDS.c.status == "open")
    .with_for_update(read=True)
)
_MOVE_ON_IN_OPEN_ROUND = _MOVE_ON.where(_ROUND_OPEN)


def _moved_cte(*, in_open_round: bool) -> sa.CTE:
    """The answer's compare-and-set (returning the assessment's id if it moved it on)."""
    where = [
        _ASSESSMENTS.c.id == sa.bindparam("b_id"),
        _ASSESSMENTS.c.revision == sa.bindparam("b_revision"),
    ]
    return (
        sa.update(_ASSESSMENTS)
        .where(*where, *([_ROUND_OPEN] if in_open_round else []))
        .values(
            position=_typed("position", _ASSESSMENTS.c.position),
            status=_typed("status", _ASSESSMENTS.c.status),
            revision=_typed("revision", _ASSESSMENTS.c.revision),
            updated_at=_typed("updated_at", _ASSESSMENTS.c.updated_at),
        )
        .returning(_ASSESSMENTS.c.id)
        .cte("moved")
    )


def _move_on_and_record(moved: sa.CTE, *, again: bool) -> sa.Select[Any]:
    """The compare-and-set, then the answer's insert (or, `again`, its update) only if that
    moved the assessment on; the statement returns how many it moved on (1, or 0: someone else
    moved it first, or its round closed, and nothing was written)."""
    recorded: sa.Insert | sa.Update
    if again:
        recorded = (
            sa.update(_ANSWERS)
            .where(
                _ANSWERS.c.assessment_id == moved.c.id,
                _ANSWERS.c.question_number == sa.bindparam("b_question"),
            )
            .values(
                level=_typed("level", _ANSWERS.c.level),
                comment=_typed("comment", _ANSWERS.c.comment),
                answered_at=_typed("updated_at", _ANSWERS.c.answered_at),
                revision=_ANSWERS.c.revision + 1,
            )
        )
    else:
        recorded = sa.insert(_ANSWERS).from_select(
            ["assessment_id", "question_id", "question_number", "level", "comment",
             "answered_at", "revision"],
            sa.select(
                moved.c.id,
                _typed("question_id", _ANSWERS.c.question_id),
                _typed("question_number", _ANSWERS.c.question_number),
                _typed("level", _ANSWERS.c.level),
                _typed("comment", _ANSWERS.c.comment),
                _typed("updated_at", _ANSWERS.c.answered_at),
                sa.literal(1),
            ),
        )  # fmt: skip
    return sa.select(sa.func.count()).select_from(moved).add_cte(recorded.cte("recorded"))


# PostgreSQL: an answer's compare-and-set and its record in one statement (a round trip fewer
# on every answer), by (recorded before, checking the round is open): in a transaction the round
# was checked before; standing alone the statement checks it itself.
_MOVE_ON_AND_RECORD = {
    (again, in_open_round): _move_on_and_record(
        _moved_cte(in_open_round=in_open_round), again=again
    )
    for again in (False, True)
    for in_open_round in (False, True)
}

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Outcome:
    """The result of a command: the decision (or refusal) and the state afterwards."""

    result: Decision | Refused
    snapshot: Snapshot | None  # None when the assessment does not exist or is not theirs


# The answer hot path's statements, built once (building and caching them per call was a
# measurable part of each answer's cost).
_OWNED_STATE = (
    sa.select(
        col(Assessment.person_id),
        col(Assessment.status),
        col(Assessment.position),
        col(Assessment.revision),
        col(Assessment.submitted_at),
        col(Assessment.round_id),
        col(LiveCard.activity_id),
        col(Answer.question_number),
        col(Answer.level),
        col(Answer.comment),
    )
    .join(Person, col(Person.id) == col(Assessment.person_id))
    .outerjoin(LiveCard, col(LiveCard.person_id) == col(Assessment.person_id))
    .outerjoin(Answer, col(Answer.assessment_id) == col(Assessment.id))
    .where(
        col(Assessment.id) == sa.bindparam("aid"),
        col(Person.tenant_id) == sa.bindparam("tenant"),
        col(Person.teams_user_id) == sa.bindparam("user"),
    )
)


class AssessmentStore:
    """The assessment aggregate: load a snapshot, apply a decision, nothing more."""

    def __init__(self, framework: Framework, clock: Clock) -> None:
        self.framework = framework
        self.clock = clock

    # -- reading --------------------------------------------------------------------------

    def open_assessment(self, session: Session, person_id: int) -> Assessment | None:
        return session.exec(
            select(Assessment).where(
                Assessment.person_id == person_id,
                Assessment.framework_id == self.framework.id,
                Assessment.status == Status.IN_PROGRESS.value,
            )
        ).first()

    def latest_submitted(self, session: Session, person_id: int) -> Assessment | None:
        return session.exec(
            select(Assessment)
            .where(
                Assessment.person_id == person_id,
                Assessment.framework_id == self.framework.id,
                Assessment.status == Status.SUBMITTED.value,
            )
            .order_by(col(Assessment.submitted_at).desc(), col(Assessment.id).desc())
        ).first()

    def owned(self, session: Session, identity: Identity, assessment_id: int) -> Snapshot | None:
        """The assessment's snapshot if it belongs to this person."""
        return self._owned(session.connection(), identity, assessment_id)[0]

    def _owned(
        self, connection: sa.Connection, identity: Identity, assessment_id: int
    ) -> tuple[Snapshot | None, str | None]:
        """The assessment's snapshot if it belongs to this person, and the activity id of the
        person's live card; one query for the ownership check, the state, the live card and
        the answers (this is every answer's hot path)."""
        rows = connection.execute(
            _OWNED_STATE,
            {
                "aid": assessment_id,
                "tenant": identity.tenant_id,
                "user": identity.teams_user_id,
            },
        ).all()
        if not rows:
            return None, None
        person_id, status, position, revision, submitted_at, round_id, live = rows[0][:7]
        snapshot = Snapshot(
            assessment_id=assessment_id,
            person_id=person_id,
            status=Status(status),
            position=position,
            revision=revision,
            question_count=self.framework.question_count,
            answers={
                number: RecordedAnswer(level, comment)
                for *_state, number, level, comment in rows
                if number is not None
            },
            submitted_at=submitted_at,
            round_id=round_id,
        )
        return snapshot, live

    def snapshot(self, session: Session, assessment: Assessment) -> Snapshot:
        assert assessment.id is not None
        rows = session.exec(
            select(Answer.question_number, Answer.level, Answer.comment).where(
                Answer.assessment_id == assessment.id
            )
        ).all()
        return Snapshot(
            assessment_id=assessment.id,
            person_id=assessment.person_id,
            status=Status(assessment.status),
            position=assessment.position,
            revision=assessment.revision,
            question_count=self.framework.question_count,
            answers={number: RecordedAnswer(level, comment) for number, level, comment in rows},
            submitted_at=assessment.submitted_at,
            round_id=assessment.round_id,
        )

    def current(self, session: Session, identity: Identity) -> Snapshot | None:
        """The person's open assessment, else their latest submitted one, else None."""
        person = find_person(session, identity)
        if person is None or person.id is None:
            return None
        assessment = self.open_assessment(session, person.id) or self.latest_submitted(
            session, person.id
        )
        return None if assessment is None else self.snapshot(session, assessment)

    # -- changing -------------------------------------------------------------------------

    def start_or_resume(
        self, session: Session, identity: Identity, round_id: int | None = None
    ) -> Snapshot:
        """The person's open assessment, at its first unanswered question; else a new one.

        From a round's invitation (`round_id`), the assessment is the round's: their open one is
        adopted into the round if it belongs to none, and their participant row points at it.
        If they already submitted for that round, the submitted one is shown (their profile).
        """
        now = self.clock()
        person = ensure_person(session, identity, now)
        assert person.id is not None
        participant = open_participant(session, round_id, person.id)
        if participant is not None and participant.assessment_id is not None:
            existing = session.get(Assessment, participant.assessment_id)
            if existing is not None and existing.status == Status.SUBMITTED.value:
                return self.snapshot(session, existing)
        assessment = self.open_assessment(session, person.id) or self._create(
            session, person.id, now
        )
        if participant is not None:
            if assessment.round_id is None:
                assessment.round_id = participant.round_id
            participant.assessment_id = assessment.id
            session.flush()
        snapshot = self.snapshot(session, assessment)
        position = resume_position(snapshot)
        if position != snapshot.position:
            if not self._compare_and_set(session, snapshot, position, Status.IN_PROGRESS, now):
                return self.snapshot(session, self._reload(session, snapshot.assessment_id))
            return self._moved(snapshot, position, Status.IN_PROGRESS)
        return snapshot

    def reopen(
        self, session: Session, identity: Identity, assessment_id: int
    ) -> Snapshot | Refused:
        """Change a submitted round assessment while its round is open: a new draft holding the
        same answers, at the review. The submitted one still counts until the draft is submitted
        (then it is superseded), so a round's result is always each person's last submission."""
        submitted = self.owned(session, identity, assessment_id)
        if submitted is None:
            return Refused(Refusal.NOT_YOURS)
        draft = self.open_assessment(session, submitted.person_id)
        if draft is not None:
            if draft.round_id == submitted.round_id and submitted.round_id is not None:
                return self.snapshot(session, draft)  # a second tap: the draft already exists
            return Refused(Refusal.OTHER_OPEN)
        if submitted.status is not Status.SUBMITTED or submitted.round_id is None:
            return Refused(Refusal.CLOSED)
        round_ = session.get(Round, submitted.round_id)
        if round_ is None or round_.status != "open":
            return Refused(Refusal.ROUND_CLOSED)
        now = self.clock()
        created = self._create(session, submitted.person_id, now)
        assert created.id is not None
        created.round_id = submitted.round_id
        created.position = submitted.review_position
        session.flush()
        session.execute(
            sa.insert(Answer).from_select(
                ["assessment_id", "question_id", "question_number", "level", "comment",
                 "answered_at", "revision"],
                sa.select(
                    sa.literal(created.id), col(Answer.question_id), col(Answer.question_number),
                    col(Answer.level), col(Answer.comment), col(Answer.answered_at),
                    col(Answer.revision),
                ).where(col(Answer.assessment_id) == assessment_id),
            )
        )  # fmt: skip
        return self.snapshot(session, created)

    def restart(
        self, session: Session, identity: Identity, assessment_id: int, token: int
    ) -> Snapshot | Refused:
        """Abandon the open assessment (kept, not deleted) and begin a new one."""
        snapshot = self.owned(session, identity, assessment_id)
        if snapshot is None:
            return Refused(Refusal.NOT_YOURS)
        if snapshot.status is not Status.IN_PROGRESS:
            return Refused(Refusal.CLOSED)
        now = self.clock()
        if token != snapshot.revision or not self._compare_and_set(
            session, snapshot, snapshot.position, Status.ABANDONED, now
        ):
            return Refused(Refusal.STALE)
        return self.snapshot(session, self._create(session, snapshot.person_id, now))

    def check_choice(
        self,
        connection: sa.Connection,
        identity: Identity,
        assessment_id: int,
        choice: Choose,
        card_id: str | None = None,
    ) -> tuple[Refused | None, Snapshot | None]:
        """Whether a level may be chosen on this card (None: yes), and the state it was judged
        on; nothing is written. One statement, so on PostgreSQL it stands alone (a tap on a
        level, before every Next, is one round trip, not three)."""
        snapshot, live = self._owned(connection, identity, assessment_id)
        if snapshot is None:
            return Refused(Refusal.NOT_YOURS), None
        refusal = check_choice(snapshot, snapshot.person_id, choice)
        if refusal is None and _an_older_copy(card_id, live):
            refusal = Refused(Refusal.STALE, choice.question)
        return refusal, snapshot

    def act(
        self,
        session: Session,
        identity: Identity,
        assessment_id: int,
        command: Command,
        card_id: str | None = None,
    ) -> Outcome:
        """Decide on a command and store the decision, only if nothing changed meanwhile.

        `card_id` is the card it was pressed on: a card other than the person's live one (an
        older copy that is still live on some client) records nothing."""
        snapshot, live = self._owned(session.connection(), identity, assessment_id)
        if snapshot is None:
            return Outcome(Refused(Refusal.NOT_YOURS), None)
        result = _decided(snapshot, live, command, card_id)
        if not isinstance(result, Refused) and not round_takes_answers(session, snapshot):
            result = Refused(Refusal.ROUND_OVER, getattr(command, "question", None))
        if isinstance(result, Refused):
            return Outcome(result, snapshot)
        now = self.clock()
        if not self._move_on(session, snapshot, result, now):
            # Another transaction moved it on first: judge the command again on what it wrote
            # (a double tap then reads as "already saved").
            fresh = self.snapshot(session, self._reload(session, assessment_id))
            return Outcome(_refused_after_losing(fresh, command), fresh)
        after = self._moved(snapshot, result.position, result.status, result)
        if result.status is Status.SUBMITTED:
            after = dataclasses.replace(after, submitted_at=now)
            if after.round_id is not None:
                supersede_older(session, after)
                cancel_nudges(session, after.round_id, after.person_id, now)
        return Outcome(result, after)

    def act_alone(
        self,
        connection: sa.Connection,
        identity: Identity,
        assessment_id: int,
        command: Command,
        card_id: str | None = None,
    ) -> Outcome | Unsettled:
        """PostgreSQL, in statements that each stand alone (`Database.run_autocommit` with
        `reads_first`): `act` in two round trips instead of four or five (BEGIN, the read, the
        round's lock, the write, COMMIT). The read, then one statement that moves the assessment
        on (the compare-and-set), records the answer if there is one and, in a round, checks
        under the round's lock that it is still open.

        Nothing is written when it returns `Unsettled`: a submit, which writes more, is left to
        `act` (NEEDS_TRANSACTION); a write that found the assessment moved on or its round
        closed is left to `settle_lost_race` (LOST_RACE), which says which. Refusals that need
        no write are decided here, as `act` decides them."""
        snapshot, live = self._owned(connection, identity, assessment_id)
        if snapshot is None:
            return Outcome(Refused(Refusal.NOT_YOURS), None)
        result = _decided(snapshot, live, command, card_id)
        if isinstance(result, Refused):
            return Outcome(result, snapshot)
        if result.status is Status.SUBMITTED:
            return Unsettled.NEEDS_TRANSACTION
        about_to_write()
        if not self._move_on_alone(connection, snapshot, result, self.clock()):
            return Unsettled.LOST_RACE
        return Outcome(result, self._moved(snapshot, result.position, result.status, result))

    def settle_lost_race(
        self, session: Session, identity: Identity, assessment_id: int, command: Command
    ) -> Outcome:
        """After `act_alone` lost its compare-and-set: refused, on what is stored now, as
        `act` refuses when its own compare-and-set loses (ROUND_OVER first, if the round has
        closed). Nothing is written."""
        fresh, _live = self._owned(session.connection(), identity, assessment_id)
        if fresh is None:
            return Outcome(Refused(Refusal.NOT_YOURS), None)
        if not round_takes_answers(session, fresh):
            return Outcome(Refused(Refusal.ROUND_OVER, getattr(command, "question", None)), fresh)
        return Outcome(_refused_after_losing(fresh, command), fresh)

    # -- internals ------------------------------------------------------------------------

    def _create(self, session: Session, person_id: int, now: datetime) -> Assessment:
        assessment = Assessment(
            person_id=person_id,
            framework_id=self.framework.id,
            framework_version=self.framework.version,
            status=Status.IN_PROGRESS.value,
            position=1,
            revision=1,
            started_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(assessment)
                session.flush()
        except sa.exc.IntegrityError:
            # Someone (a double-tapped Start) created it first: use theirs.
            existing = self.open_assessment(session, person_id)
            assert existing is not None
            return existing
        return assessment

    def _reload(self, session: Session, assessment_id: int) -> Assessment:
        session.expire_all()
        assessment = session.get(Assessment, assessment_id)
        assert assessment is not None
        return assessment

    def _move_on(
        self, session: Session, snapshot: Snapshot, decision: Decision, now: datetime
    ) -> bool:
        """The decision's compare-and-set, then its answer if it records one; False (nothing
        written) if another transaction moved the assessment on first."""
        connection = session.connection()
        if (
            decision.record is not None
            and decision.status is not Status.SUBMITTED
            and connection.dialect.name == "postgresql"
        ):
            return self._move_on_and_record(connection, snapshot, decision, now)
        if not self._compare_and_set(session, snapshot, decision.position, decision.status, now):
            return False
        if decision.record is not None:
            self._record(session, snapshot, decision, now)
        return True

    def _move_on_alone(
        self, connection: sa.Connection, snapshot: Snapshot, decision: Decision, now: datetime
    ) -> bool:
        """PostgreSQL, standing alone: the compare-and-set with the answer's write, if any, and
        the round's check, if in a round, in one statement (False: nothing was written)."""
        if decision.record is not None:
            return self._move_on_and_record(
                connection, snapshot, decision, now, round_id=snapshot.round_id
            )
        values = _moved_on(snapshot, decision.position, decision.status, now)
        statement = _MOVE_ON
        if snapshot.round_id is not None:
            statement, values["b_round"] = _MOVE_ON_IN_OPEN_ROUND, snapshot.round_id
        return bool(connection.execute(statement, values).rowcount == 1)

    def _move_on_and_record(
        self,
        connection: sa.Connection,
        snapshot: Snapshot,
        decision: Decision,
        now: datetime,
        round_id: int | None = None,
    ) -> bool:
        """PostgreSQL: the compare-and-set and the answer's write in one statement; with
        `round_id`, only while that round is open."""
        record = decision.record
        assert record is not None
        values = _moved_on(snapshot, decision.position, decision.status, now)
        values |= {"level": record.level, "comment": record.comment}
        again = record.question in snapshot.answers
        if again:
            values["b_question"] = record.question
        else:
            values["question_id"] = self.framework.question(record.question).id
            values["question_number"] = record.question
        if round_id is not None:
            values["b_round"] = round_id
        statement = _MOVE_ON_AND_RECORD[again, round_id is not None]
        return bool(connection.execute(statement, values).scalar_one() == 1)

    def _compare_and_set(
        self, session: Session, snapshot: Snapshot, position: int, status: Status, now: datetime
    ) -> bool:
        """Move the assessment on, only if its revision is still the one we decided on."""
        values = _moved_on(snapshot, position, status, now)
        if status is Status.SUBMITTED:
            values["submitted_at"] = now
        return bool(session.connection().execute(_MOVE_ON, values).rowcount == 1)

    def _record(
        self, session: Session, snapshot: Snapshot, decision: Decision, now: datetime
    ) -> None:
        record = decision.record
        assert record is not None
        answer = {"level": record.level, "comment": record.comment, "answered_at": now}
        if record.question in snapshot.answers:
            where = {"b_assessment": snapshot.assessment_id, "b_question": record.question}
            session.connection().execute(_ANSWER_AGAIN, {**where, **answer})
        else:
            session.connection().execute(
                sa.insert(_ANSWERS),
                {
                    "assessment_id": snapshot.assessment_id,
                    "question_id": self.framework.question(record.question).id,
                    "question_number": record.question,
                    "revision": 1,
                    **answer,
                },
            )

    @staticmethod
    def _moved(
        snapshot: Snapshot, position: int, status: Status, decision: Decision | None = None
    ) -> Snapshot:
        answers = dict(snapshot.answers)
        if decision is not None and decision.record is not None:
            record = decision.record
            answers[record.question] = RecordedAnswer(record.level, record.comment)
        return dataclasses.replace(
            snapshot,
            status=status,
            position=position,
            revision=snapshot.revision + 1,
            answers=answers,
        )


class Unsettled(Enum):
    """Why `AssessmentStore.act_alone` wrote nothing and left the command to a transaction."""

    NEEDS_TRANSACTION = "a submit: act writes it in a transaction"
    LOST_RACE = "the assessment moved on, or its round closed: settle_lost_race refuses it"


def _moved_on(
    snapshot: Snapshot, position: int, status: Status, now: datetime
) -> dict[str, object]:
    """The compare-and-set's parameters: which revision it must still be, and what it becomes."""
    return {
        "b_id": snapshot.assessment_id,
        "b_revision": snapshot.revision,
        "position": position,
        "status": status.value,
        "revision": snapshot.revision + 1,
        "updated_at": now,
    }


def _decided(
    snapshot: Snapshot, live: str | None, command: Command, card_id: str | None
) -> Decision | Refused:
    """The rules' decision on a command, refused as stale if it was pressed on a card other
    than the person's live one (`act` and `act_alone` judge alike)."""
    result = decide(snapshot, snapshot.person_id, command)
    if not isinstance(result, Refused) and _an_older_copy(card_id, live):
        return Refused(Refusal.STALE, getattr(command, "question", None))
    return result


def _refused_after_losing(fresh: Snapshot, command: Command) -> Refused:
    """A command whose compare-and-set lost, judged again on what the winner stored (a double
    tap then reads as "already saved"); never written."""
    again = decide(fresh, fresh.person_id, command)
    return again if isinstance(again, Refused) else Refused(Refusal.STALE)


def _an_older_copy(card_id: str | None, live: str | None) -> bool:
    """A press on a card that is not the person's live card (when both are known)."""
    return card_id is not None and live is not None and card_id != live
