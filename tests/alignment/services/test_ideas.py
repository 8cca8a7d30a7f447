"""Huddle ideas in the alignment matrix (alignment.services.ideas.IdeaWork over the huddles
store), on SQLite and PostgreSQL: an idea raised in a huddle shows as improvement work, linked to
the goal it serves, or under the seed's words when it serves none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from alignment.rules.matrix import UnalignedReason
from alignment.rules.records import WorkRef
from alignment.services.ideas import IdeaWork
from alignment.services.projects import ProjectWork
from alignment.services.service import AlignmentService
from framework.identity import Identity
from huddles.rules.items import ItemKind
from store.db import Database
from store.huddles.items import NewItem, add_item
from store.people import ensure_person
from store.teams import TeamInstall, installed_team, record_install
from tests.conftest import Clock

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def raise_ideas(db: Database, *texts: str) -> list[int]:
    def work(session: Session) -> list[int]:
        install = TeamInstall("tenant-1", WARD, None, "Ward 7", WARD, "http://connector", "{}")
        record_install(session, install, NOW)
        team = installed_team(session, WARD)
        nurse = ensure_person(session, Identity("tenant-1", "29:nurse", None, "Nurse"), NOW)
        assert team is not None
        assert team.id is not None
        assert nurse.id is not None
        ids = []
        for text in texts:
            new = NewItem(team.id, None, ItemKind.IDEA, text, raised_by=nurse.id)
            item_id = add_item(session, new, NOW)
            assert item_id is not None
            ids.append(item_id)
        return ids

    return db.run_sync(work)


async def test_huddle_ideas_are_work_the_matrix_links_to_goals(db: Database, clock: Clock) -> None:
    linked, loose = raise_ideas(db, "Bay checks every hour", "Tea trolley at handover")
    service = AlignmentService(db, clock, (ProjectWork(), IdeaWork()))
    aim = await service.add_aim("Safe care, every shift", actor="cli:ivy")
    goal = await service.add_goal(aim, "Fewer falls", "Falls per 1,000 bed days", actor="cli:ivy")
    await service.link(goal, WorkRef("idea", linked), actor="cli:ivy")

    matrix = await service.matrix()

    [row] = matrix.rows
    [goal_row] = row.goals
    assert [(w.kind, w.id, w.title, w.team_name, w.status) for w in goal_row.work] == [
        ("idea", linked, "Bay checks every hour", "Ward 7", "new")
    ]
    [unaligned] = matrix.unaligned
    assert unaligned.work.title == "Tea trolley at handover"
    assert unaligned.reason is UnalignedReason.NO_GOAL
    assert "greatest priority" in matrix.challenge.description  # the seed's own words
    assert loose != linked
