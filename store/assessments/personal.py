"""Personal data of the self-assessment: the person themselves, where they can be reached, and
every assessment with its answers and comments (abandoned and superseded ones too), and which
of their cards is live."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.assessments.tables import Answer, Assessment, LiveCard
from store.people import ConversationRef, Person
from store.personal import PersonalData, rows

_people: sa.Table = Person.__table__  # type: ignore[attr-defined]
_refs: sa.Table = ConversationRef.__table__  # type: ignore[attr-defined]
_assessments: sa.Table = Assessment.__table__  # type: ignore[attr-defined]
_answers: sa.Table = Answer.__table__  # type: ignore[attr-defined]
_live: sa.Table = LiveCard.__table__  # type: ignore[attr-defined]


def _export_person(session: Session, person_id: int) -> dict[str, Any]:
    return {
        "person": rows(session, sa.select(_people).where(_people.c.id == person_id)),
        "conversations": rows(
            session,
            sa.select(_refs.c.scope, _refs.c.conversation_id, _refs.c.updated_at).where(
                _refs.c.person_id == person_id
            ),
        ),
    }


def _erase_person(session: Session, person_id: int) -> None:
    session.execute(sa.delete(_refs).where(_refs.c.person_id == person_id))
    session.execute(sa.delete(_people).where(_people.c.id == person_id))


def _export_assessments(session: Session, person_id: int) -> dict[str, Any]:
    theirs = sa.select(_assessments.c.id).where(_assessments.c.person_id == person_id)
    return {
        "assessments": rows(
            session, sa.select(_assessments).where(_assessments.c.person_id == person_id)
        ),
        "answers": rows(
            session,
            sa.select(_answers).where(_answers.c.assessment_id.in_(theirs)),
        ),
        "live_cards": rows(session, sa.select(_live).where(_live.c.person_id == person_id)),
    }


def _erase_assessments(session: Session, person_id: int) -> None:
    theirs = sa.select(_assessments.c.id).where(_assessments.c.person_id == person_id)
    session.execute(sa.delete(_live).where(_live.c.person_id == person_id))
    session.execute(sa.delete(_answers).where(_answers.c.assessment_id.in_(theirs)))
    session.execute(sa.delete(_assessments).where(_assessments.c.person_id == person_id))


PEOPLE = PersonalData(
    name="people",
    columns=(
        "people.id",
        "people.teams_user_id",
        "people.aad_object_id",
        "people.name",
        "people.time_zone",
        "conversation_refs.person_id",
        "conversation_refs.reference",
    ),
    export=_export_person,
    erase=_erase_person,
)

ASSESSMENTS = PersonalData(
    name="assessments",
    columns=("assessments.person_id", "answers.level", "answers.comment", "live_cards.person_id"),
    export=_export_assessments,
    erase=_erase_assessments,
)
