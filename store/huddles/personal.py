"""Personal data of huddles: when someone said "I'm here", the items they raised, own or
resolved, the huddles they recorded as held or not, and being named a team's lead.

Erasing a person removes their attendance and their lead naming, and takes their name off the
team's items and huddle records (the person columns become empty); the items themselves are the
team's record of its work and stay, as the text the team agreed in its huddle."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.huddles.tables import Huddle, HuddleAttendance, HuddleItem, HuddleLead
from store.people import Person
from store.personal import PersonalData, rows

_attendance: sa.Table = HuddleAttendance.__table__  # type: ignore[attr-defined]
_items: sa.Table = HuddleItem.__table__  # type: ignore[attr-defined]
_huddles: sa.Table = Huddle.__table__  # type: ignore[attr-defined]
_leads: sa.Table = HuddleLead.__table__  # type: ignore[attr-defined]
_people: sa.Table = Person.__table__  # type: ignore[attr-defined]

_PERSON_COLUMNS = ("owner_id", "raised_by", "resolved_by")


def _their_ids(person_id: int) -> sa.CompoundSelect[Any]:
    """The ids a lead naming may use for this person: Teams id and Entra object id."""
    return (
        sa.select(_people.c.teams_user_id)
        .where(_people.c.id == person_id)
        .union(
            sa.select(_people.c.aad_object_id).where(
                _people.c.id == person_id, _people.c.aad_object_id.is_not(None)
            )
        )
    )


def _theirs(person_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(*(_items.c[name] == person_id for name in _PERSON_COLUMNS))


def _export(session: Session, person_id: int) -> dict[str, Any]:
    return {
        "huddle_attendance": rows(
            session, sa.select(_attendance).where(_attendance.c.person_id == person_id)
        ),
        "huddle_items": rows(session, sa.select(_items).where(_theirs(person_id))),
        "huddles_recorded": rows(
            session,
            sa.select(
                _huddles.c.id, _huddles.c.local_date, _huddles.c.status, _huddles.c.note
            ).where(_huddles.c.recorded_by == person_id),
        ),
        "huddle_lead_of": rows(
            session,
            sa.select(_leads.c.team_id, _leads.c.added_at).where(
                _leads.c.person.in_(_their_ids(person_id))
            ),
        ),
    }


def _erase(session: Session, person_id: int) -> None:
    session.execute(sa.delete(_attendance).where(_attendance.c.person_id == person_id))
    session.execute(sa.delete(_leads).where(_leads.c.person.in_(_their_ids(person_id))))
    for name in _PERSON_COLUMNS:
        session.execute(sa.update(_items).where(_items.c[name] == person_id).values({name: None}))
    session.execute(
        sa.update(_huddles).where(_huddles.c.recorded_by == person_id).values(recorded_by=None)
    )


HUDDLES = PersonalData(
    name="huddles",
    columns=(
        "huddle_attendance.person_id",
        "huddle_items.owner_id",
        "huddle_items.raised_by",
        "huddle_items.resolved_by",
        "huddle_items.text",
        "huddle_items.note",
        "huddles.recorded_by",
        "huddles.note",
        "huddle_leads.person",
        "huddle_schedules.created_by",
    ),
    export=_export,
    erase=_erase,
)
