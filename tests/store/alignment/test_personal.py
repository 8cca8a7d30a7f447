"""Personal data of strategic alignment (SQLite and PostgreSQL): what one person recorded or owns
is exported, and erased (they leave a project's owner, their name leaves what they recorded;
the organisation's records stay); the declaration names every column that holds a person."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, SQLModel, select

from alignment.rules.records import WorkRef
from framework.identity import Identity
from store.alignment import strategy, work
from store.alignment.personal import ALIGNMENT, ERASED
from store.alignment.tables import (
    AlignmentLink,
    ImprovementProject,
    MeasurableGoal,
    NationalTarget,
    StrategicAim,
)
from store.db import Database
from store.people import ensure_person

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
OLU = Identity("tenant-1", "29:olu", "aad-olu", "Olu Owner")
SAM = Identity("tenant-1", "29:sam", None, "Sam Someone")


def test_one_persons_alignment_data_is_exported_and_erased(db: Database) -> None:
    def record(session: Session) -> tuple[int, int]:
        olu = ensure_person(session, OLU, NOW)
        sam = ensure_person(session, SAM, NOW)
        aim = strategy.add_aim(session, "Safe care", actor="aad-olu", now=NOW)
        goal = strategy.add_goal(session, aim.id or 0, "Falls", None, actor="teams:29:sam", now=NOW)
        project = work.add_project(
            session, work.ProjectSpec(title="Low beds", owner=sam.id), actor="aad-olu", now=NOW
        )
        work.link_work(session, goal.id or 0, WorkRef("project", project.id or 0),
                       actor="aad-olu", now=NOW)  # fmt: skip
        return olu.id or 0, sam.id or 0

    olu, sam = db.run_sync(record)
    exported = db.run_sync(lambda s: ALIGNMENT.export(s, olu))
    assert json.loads(json.dumps(exported)) == exported
    assert [a["title"] for a in exported["alignment_recorded"]["aims"]] == ["Safe care"]
    assert exported["alignment_recorded"]["goals"] == []
    assert [p["title"] for p in exported["alignment_recorded"]["projects"]] == ["Low beds"]
    assert [(k["work_kind"], k["work_id"]) for k in exported["alignment_links_made"]] == [
        ("project", 1)
    ]
    assert exported["projects_owned"] == []
    theirs = db.run_sync(lambda s: ALIGNMENT.export(s, sam))
    assert [g["title"] for g in theirs["alignment_recorded"]["goals"]] == ["Falls"]
    assert [p["title"] for p in theirs["projects_owned"]] == ["Low beds"]

    db.run_sync(lambda s: ALIGNMENT.erase(s, olu))
    aim = db.run_sync(lambda s: s.exec(select(StrategicAim)).one())
    link = db.run_sync(lambda s: s.exec(select(AlignmentLink)).one())
    project = db.run_sync(lambda s: s.exec(select(ImprovementProject)).one())
    assert (aim.title, aim.created_by, link.linked_by) == ("Safe care", ERASED, ERASED)
    assert (project.created_by, project.owner_person_id) == (ERASED, sam)
    db.run_sync(lambda s: ALIGNMENT.erase(s, sam))
    project = db.run_sync(lambda s: s.exec(select(ImprovementProject)).one())
    assert project.owner_person_id is None
    assert db.run_sync(lambda s: ALIGNMENT.export(s, sam))["projects_owned"] == []


def test_every_column_naming_a_person_is_declared() -> None:
    """A person is named by a foreign key to people, or as the audit trail names them (`*_by`)."""
    naming_a_person = {
        f"{table.name}.{column.name}"
        for model in (
            StrategicAim,
            MeasurableGoal,
            NationalTarget,
            ImprovementProject,
            AlignmentLink,
        )
        for table in [SQLModel.metadata.tables[str(model.__tablename__)]]
        for column in table.columns
        if column.name.endswith("_by")
        or any(fk.column.table.name == "people" for fk in column.foreign_keys)
    }
    assert naming_a_person == set(ALIGNMENT.columns)
