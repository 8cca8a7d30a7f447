"""The queries of the round steps (rounds.services.steps): which rounds are due, who is waiting
for a nudge, the moves that close a round and schedule its successor. Each takes the caller's
session (one transaction)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from store.assessments.tables import Assessment
from store.outbox import OutboxMessage
from store.people import ConversationRef, Person
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team


def due_to_close(session: Session, now: datetime) -> list[int]:
    ids = session.exec(
        select(Round.id).where(Round.status == "open", col(Round.closes_at) <= now)
    ).all()
    return [i for i in ids if i is not None]


def mark_closed(session: Session, round_id: int, now: datetime) -> Round | None:
    """Move an open round to closed (compare-and-set on the status and the closing time); None
    if another process closed it first, it was cancelled, or it was extended meanwhile."""
    moved = session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.status) == "open", col(Round.closes_at) <= now)
        .values(status="closed", closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    round_ = session.get(Round, round_id)
    assert round_ is not None
    session.refresh(round_)
    return round_


def cancel_pending_nudges(session: Session, round_id: int) -> None:
    """A closed round sends no more nudges."""
    session.execute(
        sa.update(OutboxMessage)
        .where(
            col(OutboxMessage.round_id) == round_id,
            col(OutboxMessage.kind) == "nudge",
            col(OutboxMessage.status) == "pending",
        )
        .values(status="cancelled")
    )


def add_successor(
    session: Session, round_: Round, opens_at: datetime, now: datetime
) -> Round | None:
    """The next round of a repeating series: same teams, plan and length, opening at
    `opens_at`. None if it already has one (another leader added it first: the unique index
    on previous_round_id refuses a second; only this savepoint is rolled back)."""
    try:
        with session.begin_nested():
            return _add_successor(session, round_, opens_at, now)
    except sa.exc.IntegrityError:
        return None


def _add_successor(session: Session, round_: Round, opens_at: datetime, now: datetime) -> Round:
    following = Round(
        name=round_.name,
        framework_id=round_.framework_id,
        framework_version=round_.framework_version,
        status="scheduled",
        opens_at=opens_at,
        closes_at=opens_at + (round_.closes_at - round_.opens_at),
        reminder_plan=round_.reminder_plan,
        role_question=round_.role_question,
        repeat_every=round_.repeat_every,
        previous_round_id=round_.id,
        created_by="scheduler",
        created_at=now,
        updated_at=now,
    )
    session.add(following)
    session.flush()
    assert following.id is not None
    teams = session.exec(select(RoundTeam.team_id).where(RoundTeam.round_id == round_.id)).all()
    for team_id in teams:
        session.add(RoundTeam(round_id=following.id, team_id=team_id))
    return following


def waiting_for_successor(session: Session) -> list[Round]:
    """Closed repeating rounds (not paused) that have no next round yet."""
    successor_ids = select(Round.previous_round_id).where(col(Round.previous_round_id).is_not(None))
    return list(
        session.exec(
            select(Round).where(
                Round.status == "closed",
                col(Round.repeat_every).is_not(None),
                col(Round.repeat_paused).is_(False),
                col(Round.id).not_in(successor_ids),
            )
        ).all()
    )


def open_rounds(session: Session) -> list[Round]:
    return list(session.exec(select(Round).where(Round.status == "open")).all())


def waiting_participants(session: Session, round_id: int) -> list[tuple[RoundParticipant, Person]]:
    """Everyone on the round's roster who has not submitted and has not opted out."""
    rows = session.exec(
        select(RoundParticipant, Person)
        .join(Person, col(Person.id) == col(RoundParticipant.person_id))
        .outerjoin(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
        .where(
            RoundParticipant.round_id == round_id,
            col(RoundParticipant.opted_out).is_(False),
            sa.or_(col(Assessment.status).is_(None), col(Assessment.status) != "submitted"),
        )
    ).all()
    return [(participant, person) for participant, person in rows]


def personal_chat(session: Session, person_id: int) -> ConversationRef | None:
    return session.exec(
        select(ConversationRef).where(
            ConversationRef.person_id == person_id, ConversationRef.scope == "personal"
        )
    ).first()


def participant_team_names(session: Session, participant_id: int) -> tuple[str, ...]:
    return tuple(
        session.exec(
            select(Team.name)
            .join(RoundParticipantTeam, col(RoundParticipantTeam.team_id) == col(Team.id))
            .where(RoundParticipantTeam.participant_id == participant_id)
        ).all()
    )


def rounds_wanting_jobs(session: Session) -> list[Round]:
    """Rounds the scheduler has work for: scheduled (to open), open (to close), and closed
    repeating rounds, not paused, that have no successor yet (to repeat)."""
    successor = aliased(Round)
    has_successor = (
        sa.select(col(successor.id))
        .where(col(successor.previous_round_id) == col(Round.id))
        .exists()
    )
    return list(
        session.exec(
            select(Round)
            .where(
                sa.or_(
                    col(Round.status).in_(("scheduled", "open")),
                    sa.and_(
                        col(Round.status) == "closed",
                        col(Round.repeat_every).is_not(None),
                        col(Round.repeat_paused).is_(False),
                        ~has_successor,
                    ),
                )
            )
            .order_by(col(Round.id))
        ).all()
    )
