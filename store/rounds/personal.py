"""Personal data of rounds: who was on a round's roster (and their team role and role answer),
their reminder settings, the messages queued for them, and audit entries they made."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.audit import AuditEntry
from store.outbox import OutboxMessage
from store.people import Person
from store.personal import PersonalData, rows
from store.rounds.tables import NudgePreference, RoundParticipant, RoundParticipantTeam

_participants: sa.Table = RoundParticipant.__table__  # type: ignore[attr-defined]
_memberships: sa.Table = RoundParticipantTeam.__table__  # type: ignore[attr-defined]
_preferences: sa.Table = NudgePreference.__table__  # type: ignore[attr-defined]
_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_audit: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
_people: sa.Table = Person.__table__  # type: ignore[attr-defined]


def _theirs(person_id: int) -> sa.Select[Any]:
    return sa.select(_participants.c.id).where(_participants.c.person_id == person_id)


def _export_rounds(session: Session, person_id: int) -> dict[str, Any]:
    return {
        "round_participation": rows(
            session, sa.select(_participants).where(_participants.c.person_id == person_id)
        ),
        "round_teams": rows(
            session,
            sa.select(_memberships).where(_memberships.c.participant_id.in_(_theirs(person_id))),
        ),
        "reminder_settings": rows(
            session, sa.select(_preferences).where(_preferences.c.person_id == person_id)
        ),
    }


def _erase_rounds(session: Session, person_id: int) -> None:
    session.execute(
        sa.delete(_memberships).where(_memberships.c.participant_id.in_(_theirs(person_id)))
    )
    session.execute(sa.delete(_participants).where(_participants.c.person_id == person_id))
    session.execute(sa.delete(_preferences).where(_preferences.c.person_id == person_id))


def _export_messages(session: Session, person_id: int) -> dict[str, Any]:
    return {
        "messages": rows(
            session,
            sa.select(
                _outbox.c.kind, _outbox.c.status, _outbox.c.created_at, _outbox.c.sent_at
            ).where(_outbox.c.person_id == person_id),
        )
    }


def _erase_messages(session: Session, person_id: int) -> None:
    session.execute(sa.delete(_outbox).where(_outbox.c.person_id == person_id))


def _actors(person_id: int) -> sa.Select[Any]:
    """How the audit trail names this person: their Entra object id, or teams:<id>."""
    return sa.select(
        sa.func.coalesce(_people.c.aad_object_id, "teams:" + _people.c.teams_user_id)
    ).where(_people.c.id == person_id)


def _export_audit(session: Session, person_id: int) -> dict[str, Any]:
    return {
        "audit": rows(
            session,
            sa.select(_audit).where(_audit.c.actor.in_(_actors(person_id))),
        )
    }


def _erase_audit(session: Session, person_id: int) -> None:
    """The audit trail is append-only from the application; only an erasure (which lifts the
    guard for its transaction: store.privacy.rights) changes it. Entries a person made are kept,
    with their actor replaced by `erased`; the erasure itself is audited."""
    theirs = _actors(person_id).scalar_subquery()
    session.execute(sa.update(_audit).where(_audit.c.actor == theirs).values(actor="erased"))


ROUNDS = PersonalData(
    name="rounds",
    columns=(
        "round_participants.person_id",
        "round_participants.role",
        "round_participant_teams.participant_id",
        "nudge_preferences.person_id",
    ),
    export=_export_rounds,
    erase=_erase_rounds,
)

MESSAGES = PersonalData(
    name="messages",
    columns=("outbox.person_id", "outbox.payload"),
    export=_export_messages,
    erase=_erase_messages,
)

AUDIT = PersonalData(
    name="audit",
    columns=("audit_log.actor",),
    export=_export_audit,
    erase=_erase_audit,
)
