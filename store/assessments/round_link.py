"""An assessment's round: the statements the assessment aggregate (store.assessments.aggregate)
runs on the round tables and the outbox, moved here to keep that module small.

Which open round an assessment counts for, whether that round still takes answers, and what a
submission changes there: the older submission superseded, the person's waiting nudges
cancelled.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from assessment.rules import Snapshot, Status
from store.assessments.tables import Assessment
from store.outbox import OutboxMessage
from store.rounds.tables import Round, RoundParticipant

__all__ = ["cancel_nudges", "open_participant", "round_takes_answers", "supersede_older"]


def open_participant(
    session: Session, round_id: int | None, person_id: int
) -> RoundParticipant | None:
    """Their place in that open round; without a round, the most recently opened open round
    they are on and haven't submitted for (so typing `start` counts for the round too)."""
    query = (
        select(RoundParticipant)
        .join(Round, col(Round.id) == col(RoundParticipant.round_id))
        .outerjoin(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
        .where(RoundParticipant.person_id == person_id, Round.status == "open")
    )
    if round_id is not None:
        return session.exec(query.where(RoundParticipant.round_id == round_id)).first()
    return session.exec(
        query.where(
            sa.or_(
                col(RoundParticipant.assessment_id).is_(None),
                col(Assessment.status) == Status.IN_PROGRESS.value,
            )
        ).order_by(col(Round.opened_at).desc())
    ).first()


def supersede_older(session: Session, snapshot: Snapshot) -> None:
    """A round assessment was submitted (again): it is now the one that counts, and its
    author gets no more nudges for the round (no next nudge time)."""
    assert snapshot.round_id is not None
    session.execute(
        sa.update(Assessment)
        .where(
            col(Assessment.person_id) == snapshot.person_id,
            col(Assessment.round_id) == snapshot.round_id,
            col(Assessment.status) == Status.SUBMITTED.value,
            col(Assessment.id) != snapshot.assessment_id,
        )
        .values(status=Status.SUPERSEDED.value)
    )
    session.execute(
        sa.update(RoundParticipant)
        .where(
            col(RoundParticipant.round_id) == snapshot.round_id,
            col(RoundParticipant.person_id) == snapshot.person_id,
        )
        .values(assessment_id=snapshot.assessment_id, next_nudge_at=None)
    )


def round_takes_answers(session: Session, snapshot: Snapshot) -> bool:
    """Whether the assessment's round (if it has one) is open. Nothing that feeds a closed
    round's results changes after its close. The round's row is read FOR SHARE: a close running
    at the same moment (an UPDATE of that row) waits for this answer's transaction, whose answer
    its results then include, or this waits for the close and is refused."""
    if snapshot.round_id is None:
        return True
    status = (
        session.connection()
        .execute(
            sa.select(col(Round.status))
            .where(col(Round.id) == snapshot.round_id)
            .with_for_update(read=True)
        )
        .scalar_one_or_none()
    )
    return status == "open"


def cancel_nudges(session: Session, round_id: int, person_id: int, now: datetime) -> None:
    """They submitted: the round's nudges still waiting to be sent to them will not be. One a
    sender is sending right now (a live lease) is left to it, so its outcome is recorded."""
    session.execute(
        sa.update(OutboxMessage)
        .where(
            col(OutboxMessage.round_id) == round_id,
            col(OutboxMessage.person_id) == person_id,
            col(OutboxMessage.kind) == "nudge",
            col(OutboxMessage.status) == "pending",
            sa.or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) <= now),
        )
        .values(status="cancelled")
    )
