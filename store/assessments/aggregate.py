"""Storing people, their conversation references and their assessments.

Functions here take an open session (one transaction, see store.db) and are called through
`Database.run`. The decisions themselves are assessment.rules's; this module loads the
snapshot it decides on and writes the decision with a compare-and-set on the revision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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


# PostgreSQL: an answer's compare-and-set and its record in one statement (a round trip fewer
# on every answer): the update of the assessment, then the answer's insert or update only if
# that moved it on; the statement returns how many assessments it moved on (1, or 0: someone
# else moved it first, and nothing was written).
_MOVED = (
    sa.update(_ASSESSMENTS)
    .where(
        _ASSESSMENTS.c.id == sa.bindparam("b_id"),
        _ASSESSMENTS.c.revision == sa.bindparam("b_revision"),
    )
    .values(
        position=_typed("position", _ASSESSMENTS.c.position),
        status=_typed("status", _ASSESSMENTS.c.status),
        revision=_typed("revision", _ASSESSMENTS.c.revision),
        updated_at=_typed("updated_at", _ASSESSMENTS.c.updated_at),
    )
    .returning(_ASSESSMENTS.c.id)
    .cte("moved")
)
_RECORDED_FIRST = sa.insert(_ANSWERS).from_select(
    ["assessment_id", "question_id", "question_number", "level", "comment", "answered_at",
     "revision"],
    sa.select(
        _MOVED.c.id,
        _typed("question_id", _ANSWERS.c.question_id),
        _typed("question_number", _ANSWERS.c.question_number),
        _typed("level", _ANSWERS.c.level),
        _typed("comment", _ANSWERS.c.comment),
        _typed("updated_at", _ANSWERS.c.answered_at),
        sa.literal(1),
    ),
)  # fmt: skip
_RECORDED_AGAIN = (
    sa.update(_ANSWERS)
    .where(
        _ANSWERS.c.assessment_id == _MOVED.c.id,
        _ANSWERS.c.question_number == sa.bindparam("b_question"),
    )
    .values(
        level=_typed("level", _ANSWERS.c.level),
        comment=_typed("comment", _ANSWERS.c.comment),
        answered_at=_typed("updated_at", _ANSWERS.c.answered_at),
        revision=_ANSWERS.c.revision + 1,
    )
)
_MOVE_ON_AND_RECORD_FIRST = (
    sa.select(sa.func.count()).select_from(_MOVED).add_cte(_RECORDED_FIRST.cte("recorded"))
)
_MOVE_ON_AND_RECORD_AGAIN = (
    sa.select(sa.func.count()).select_from(_MOVED).add_cte(_RECORDED_AGAIN.cte("recorded"))
)

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
        return self._owned(session, identity, assessment_id)[0]

    def _owned(
        self, session: Session, identity: Identity, assessment_id: int
    ) -> tuple[Snapshot | None, str | None]:
        """The assessment's snapshot if it belongs to this person, and the activity id of the
        person's live card; one query for the ownership check, the state, the live card and
        the answers (this is every answer's hot path)."""
        rows = (
            session.connection()
            .execute(
                _OWNED_STATE,
                {
                    "aid": assessment_id,
                    "tenant": identity.tenant_id,
                    "user": identity.teams_user_id,
                },
            )
            .all()
        )
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
        session: Session,
        identity: Identity,
        assessment_id: int,
        choice: Choose,
        card_id: str | None = None,
    ) -> tuple[Refused | None, Snapshot | None]:
        """Whether a level may be chosen on this card (None: yes), and the state it was judged
        on; nothing is written."""
        snapshot, live = self._owned(session, identity, assessment_id)
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
        snapshot, live = self._owned(session, identity, assessment_id)
        if snapshot is None:
            return Outcome(Refused(Refusal.NOT_YOURS), None)
        result = decide(snapshot, snapshot.person_id, command)
        if not isinstance(result, Refused) and _an_older_copy(card_id, live):
            result = Refused(Refusal.STALE, getattr(command, "question", None))
        if not isinstance(result, Refused) and not round_takes_answers(session, snapshot):
            result = Refused(Refusal.ROUND_OVER, getattr(command, "question", None))
        if isinstance(result, Refused):
            return Outcome(result, snapshot)
        now = self.clock()
        if not self._move_on(session, snapshot, result, now):
            # Another transaction moved it on first: judge the command again on what it wrote
            # (a double tap then reads as "already saved").
            fresh = self.snapshot(session, self._reload(session, assessment_id))
            again = decide(fresh, fresh.person_id, command)
            refusal = again if isinstance(again, Refused) else Refused(Refusal.STALE)
            return Outcome(refusal, fresh)
        after = self._moved(snapshot, result.position, result.status, result)
        if result.status is Status.SUBMITTED:
            after = dataclasses.replace(after, submitted_at=now)
            if after.round_id is not None:
                supersede_older(session, after)
                cancel_nudges(session, after.round_id, after.person_id, now)
        return Outcome(result, after)

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

    def _move_on_and_record(
        self, connection: sa.Connection, snapshot: Snapshot, decision: Decision, now: datetime
    ) -> bool:
        """PostgreSQL: the compare-and-set and the answer's write in one statement."""
        record = decision.record
        assert record is not None
        values: dict[str, object] = {
            "b_id": snapshot.assessment_id,
            "b_revision": snapshot.revision,
            "position": decision.position,
            "status": decision.status.value,
            "revision": snapshot.revision + 1,
            "updated_at": now,
            "level": record.level,
            "comment": record.comment,
        }
        if record.question in snapshot.answers:
            statement = _MOVE_ON_AND_RECORD_AGAIN
            values["b_question"] = record.question
        else:
            statement = _MOVE_ON_AND_RECORD_FIRST
            values["question_id"] = self.framework.question(record.question).id
            values["question_number"] = record.question
        return bool(connection.execute(statement, values).scalar_one() == 1)

    def _compare_and_set(
        self, session: Session, snapshot: Snapshot, position: int, status: Status, now: datetime
    ) -> bool:
        """Move the assessment on, only if its revision is still the one we decided on."""
        values: dict[str, object] = {
            "position": position,
            "status": status.value,
            "revision": snapshot.revision + 1,
            "updated_at": now,
        }
        if status is Status.SUBMITTED:
            values["submitted_at"] = now
        result = session.connection().execute(
            _MOVE_ON,
            {"b_id": snapshot.assessment_id, "b_revision": snapshot.revision, **values},
        )
        return bool(result.rowcount == 1)

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


def _an_older_copy(card_id: str | None, live: str | None) -> bool:
    """A press on a card that is not the person's live card (when both are known)."""
    return card_id is not None and live is not None and card_id != live
