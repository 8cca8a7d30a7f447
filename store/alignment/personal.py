"""Personal data of strategic alignment: who recorded each aim, goal, target, project and link
(named as the audit trail names them), and who owns a project. Titles are the organisation's,
not a person's.

Erasing a person takes them off as a project's owner and replaces their name on what they
recorded with "erased"; the records themselves belong to the organisation and stay.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.alignment.tables import (
    AlignmentLink,
    ImprovementProject,
    MeasurableGoal,
    NationalTarget,
    StrategicAim,
)
from store.people import Person
from store.personal import PersonalData, rows

ERASED = "erased"

_people: sa.Table = Person.__table__  # type: ignore[attr-defined]
_projects: sa.Table = ImprovementProject.__table__  # type: ignore[attr-defined]
_links: sa.Table = AlignmentLink.__table__  # type: ignore[attr-defined]
_RECORDED: tuple[tuple[str, sa.Table], ...] = (
    ("aims", StrategicAim.__table__),  # type: ignore[attr-defined]
    ("goals", MeasurableGoal.__table__),  # type: ignore[attr-defined]
    ("targets", NationalTarget.__table__),  # type: ignore[attr-defined]
    ("projects", _projects),
)


def _actors(person_id: int) -> sa.Select[Any]:
    """How the audit trail (and `created_by`) names this person: Entra object id or teams:<id>."""
    return sa.select(
        sa.func.coalesce(_people.c.aad_object_id, "teams:" + _people.c.teams_user_id)
    ).where(_people.c.id == person_id)


def _export(session: Session, person_id: int) -> dict[str, Any]:
    theirs = _actors(person_id)
    recorded = {
        name: rows(session, sa.select(table.c.id, table.c.title, table.c.created_at).where(
            table.c.created_by.in_(theirs)))
        for name, table in _RECORDED
    }  # fmt: skip
    return {
        "alignment_recorded": recorded,
        "alignment_links_made": rows(
            session,
            sa.select(
                _links.c.work_kind, _links.c.work_id, _links.c.goal_id, _links.c.linked_at
            ).where(_links.c.linked_by.in_(theirs)),
        ),
        "projects_owned": rows(
            session,
            sa.select(_projects.c.id, _projects.c.title, _projects.c.status).where(
                _projects.c.owner_person_id == person_id
            ),
        ),
    }


def _erase(session: Session, person_id: int) -> None:
    theirs = _actors(person_id).scalar_subquery()
    session.execute(
        sa.update(_projects).where(_projects.c.owner_person_id == person_id)
        .values(owner_person_id=None)
    )  # fmt: skip
    for _name, table in _RECORDED:
        session.execute(
            sa.update(table).where(table.c.created_by == theirs).values(created_by=ERASED)
        )
    session.execute(sa.update(_links).where(_links.c.linked_by == theirs).values(linked_by=ERASED))


ALIGNMENT = PersonalData(
    name="alignment",
    columns=(
        "strategic_aims.created_by",
        "measurable_goals.created_by",
        "national_targets.created_by",
        "improvement_projects.created_by",
        "improvement_projects.owner_person_id",
        "alignment_links.linked_by",
    ),
    export=_export,
    erase=_erase,
)
