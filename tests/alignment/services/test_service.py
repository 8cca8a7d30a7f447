"""Strategic alignment's service on SQLite and PostgreSQL: recording, changing and removing aims,
goals, national targets and projects (each audited); links from goals to work checked against the
work sources; the matrix with the work linked to no aim, from projects and from a second source
implementing the WorkSource port (as huddle ideas will)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pytest
from sqlmodel import Session, col, select

from alignment.rules.matrix import AlignmentError, UnalignedReason
from alignment.rules.records import ProjectStatus, WorkRef
from alignment.services.ports import WorkItem, WorkSource
from alignment.services.projects import ProjectWork
from alignment.services.service import AlignmentService, GoalChange, ProjectSpec
from framework.content import default_alignment_tool
from framework.identity import Identity
from store.alignment.tables import AlignmentLink
from store.audit import AuditEntry
from store.db import Database
from store.teams import TeamInstall, record_install
from tests.conftest import Clock

pytestmark = pytest.mark.service

ACTOR = "cli:ivy"
WARD = "19:ward7@thread.tacv2"


@dataclass
class IdeaBoard:
    """A second source of work, as the huddles feature's ideas will be: the port's contract."""

    items: list[WorkItem] = field(default_factory=list)
    kind: Literal["idea"] = "idea"

    def list_work(self, session: Session) -> Sequence[WorkItem]:
        assert session.is_active, "listed inside the caller's transaction"
        return list(self.items)


@pytest.fixture
def ideas() -> IdeaBoard:
    return IdeaBoard(
        [
            WorkItem("idea", 1, "Bay checks every hour", "Ward 7", "testing"),
            WorkItem("idea", 2, "Tea trolley at handover", "Ward 9", "new"),
        ]
    )


@pytest.fixture
def service(db: Database, clock: Clock, ideas: IdeaBoard) -> AlignmentService:
    sources: tuple[WorkSource, ...] = (ProjectWork(), ideas)
    return AlignmentService(db, clock, sources)


def install_ward(db: Database) -> None:
    install = TeamInstall("tenant-1", WARD, None, "Ward 7", WARD, "http://connector", "{}")
    db.run_sync(lambda s: record_install(s, install, datetime(2026, 11, 1, tzinfo=UTC)))


def audit_trail(db: Database) -> list[tuple[str, str, bool]]:
    return db.run_sync(
        lambda s: [
            (a.action, a.target, a.allowed)
            for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        ]
    )


async def test_aims_goals_and_targets_are_recorded_changed_and_listed(
    service: AlignmentService, db: Database
) -> None:
    safe = await service.add_aim("  Safe   care,\nevery time ", actor=ACTOR)
    flow = await service.add_aim("No one waits longer than they need to", actor=ACTOR)
    falls = await service.add_goal(safe, "Halve falls with harm", "Falls per 1,000 bed days",
                                   actor=ACTOR)  # fmt: skip
    sepsis = await service.add_goal(safe, "Antibiotics within the hour", None, actor=ACTOR)
    target = await service.add_target("Patient safety framework", [falls], actor=ACTOR)
    await service.link_target(target, [sepsis, falls], actor=ACTOR)
    await service.rename_aim(flow, "Flow", actor=ACTOR)
    await service.update_goal(sepsis, GoalChange(measure="% within 1 hour"), actor=ACTOR)

    assert [(a.id, a.title) for a in await service.aims()] == [
        (safe, "Safe care, every time"),
        (flow, "Flow"),
    ]
    assert [(g.title, g.measure) for g in await service.goals(safe)] == [
        ("Halve falls with harm", "Falls per 1,000 bed days"),
        ("Antibiotics within the hour", "% within 1 hour"),
    ]
    assert await service.goals(flow) == []
    [listed] = await service.targets()
    assert (listed.title, listed.goal_ids) == ("Patient safety framework", (falls, sepsis))

    await service.update_goal(sepsis, GoalChange(aim_id=flow, clear_measure=True), actor=ACTOR)
    moved = await service.goals(flow)
    assert [(g.id, g.measure) for g in moved] == [(sepsis, None)]
    await service.unlink_target(target, [sepsis], actor=ACTOR)
    assert (await service.targets())[0].goal_ids == (falls,)
    assert [action for action, _t, _a in audit_trail(db)] == [
        "alignment.aim.add", "alignment.aim.add", "alignment.goal.add", "alignment.goal.add",
        "alignment.target.add", "alignment.target.link", "alignment.aim.rename",
        "alignment.goal.update", "alignment.goal.update", "alignment.target.unlink",
    ]  # fmt: skip


async def test_what_cannot_be_recorded_says_why_and_changes_nothing(
    service: AlignmentService, db: Database
) -> None:
    aim = await service.add_aim("Safe care", actor=ACTOR)
    cases = [
        (service.add_aim("   ", actor=ACTOR), "The aim's title is empty."),
        (service.add_aim("x" * 201, actor=ACTOR), "201 characters long"),
        (service.add_goal(99, "Goal", None, actor=ACTOR), "There is no aim 99."),
        (service.add_target("Target", [42], actor=ACTOR), "There is no goal 42."),
        (service.rename_aim(7, "New", actor=ACTOR), "There is no aim 7."),
        (service.update_goal(5, GoalChange(title="x"), actor=ACTOR), "There is no goal 5."),
        (service.add_project(ProjectSpec(title="P", team="19:nowhere"), actor=ACTOR),
         "I'm not in a team with the id '19:nowhere'."),
    ]  # fmt: skip
    for attempt, message in cases:
        with pytest.raises(AlignmentError, match=re.escape(message)):
            await attempt
    assert [(a.id, a.title) for a in await service.aims()] == [(aim, "Safe care")]
    assert await service.targets() == []
    assert await service.projects() == []
    assert len(audit_trail(db)) == 1


async def test_an_aim_with_goals_is_not_removed_and_a_removed_goal_leaves_its_work_unaligned(
    service: AlignmentService, db: Database
) -> None:
    aim = await service.add_aim("Safe care", actor=ACTOR)
    goal = await service.add_goal(aim, "Fewer falls", None, actor=ACTOR)
    target = await service.add_target("Safety framework", [goal], actor=ACTOR)
    project = await service.add_project(ProjectSpec(title="Low beds"), goal_id=goal, actor=ACTOR)
    await service.link(goal, WorkRef("idea", 1), actor=ACTOR)

    with pytest.raises(AlignmentError, match="Aim 1 still has 1 goal: remove it or move it"):
        await service.remove_aim(aim, actor=ACTOR)
    assert await service.remove_goal(goal, actor=ACTOR) == ["idea:1", f"project:{project}"]
    assert (await service.targets())[0].goal_ids == ()
    matrix = await service.matrix()
    assert matrix.rows[0].goals == ()
    assert {(u.work.kind, u.work.id) for u in matrix.unaligned} == {
        ("project", project), ("idea", 1), ("idea", 2),
    }  # fmt: skip
    await service.remove_aim(aim, actor=ACTOR)
    await service.remove_target(target, actor=ACTOR)
    assert (await service.aims(), await service.targets()) == ([], [])
    removal = db.run_sync(
        lambda s: s.exec(
            select(AuditEntry).where(AuditEntry.action == "alignment.goal.remove")
        ).one()
    )
    assert json.loads(removal.detail)["unlinked_work"] == ["idea:1", f"project:{project}"]


async def test_projects_with_a_team_an_owner_and_a_status(
    service: AlignmentService, db: Database
) -> None:
    install_ward(db)
    owner = await service.person_of(Identity("tenant-1", "29:olu", "aad-olu", "Olu Owner"))
    assert await service.person_by_key("AAD-OLU") == owner
    assert await service.person_by_key("29:olu") == owner
    with pytest.raises(AlignmentError, match="I know nobody with the id 'aad-nobody'"):
        await service.person_by_key("aad-nobody")
    first = await service.add_project(
        ProjectSpec(title="Low beds", team=WARD, owner=owner, status=ProjectStatus.PLANNED),
        actor=ACTOR,
    )
    second = await service.add_project(ProjectSpec(title="New rota app"), actor=ACTOR)
    await service.update_project(
        first, ProjectSpec(status=ProjectStatus.ACTIVE, clear_owner=True), actor=ACTOR
    )
    await service.update_project(second, ProjectSpec(team=WARD, owner=owner), actor=ACTOR)
    listed = await service.projects()
    assert [(p.id, p.title, p.status, p.team_name, p.owner_name) for p in listed] == [
        (first, "Low beds", "active", "Ward 7", None),
        (second, "New rota app", "active", "Ward 7", "Olu Owner"),
    ]
    with pytest.raises(AlignmentError, match="Say what to change"):
        await service.update_project(first, ProjectSpec(), actor=ACTOR)
    await service.remove_project(first, actor=ACTOR)
    assert [p.id for p in await service.projects()] == [second]


async def test_links_are_checked_against_the_work_sources_and_moved_not_doubled(
    service: AlignmentService, db: Database, ideas: IdeaBoard
) -> None:
    aim = await service.add_aim("Safe care", actor=ACTOR)
    falls = await service.add_goal(aim, "Fewer falls", None, actor=ACTOR)
    sepsis = await service.add_goal(aim, "Sepsis care", None, actor=ACTOR)
    project = await service.add_project(ProjectSpec(title="Low beds"), actor=ACTOR)

    assert await service.link(falls, WorkRef("idea", 1), actor=ACTOR) is None
    assert await service.link(sepsis, WorkRef("idea", 1), actor=ACTOR) == falls
    assert await service.link(falls, WorkRef("project", project), actor=ACTOR) is None
    with pytest.raises(AlignmentError, match=re.escape("There is no idea 3.")):
        await service.link(falls, WorkRef("idea", 3), actor=ACTOR)
    with pytest.raises(AlignmentError, match=re.escape("There is no project 9.")):
        await service.link(falls, WorkRef("project", 9), actor=ACTOR)
    with pytest.raises(AlignmentError, match=re.escape("There is no goal 77.")):
        await service.link(77, WorkRef("idea", 2), actor=ACTOR)
    links = db.run_sync(lambda s: [(k.work_kind, k.work_id, k.goal_id) for k in
                                   s.exec(select(AlignmentLink)).all()])  # fmt: skip
    assert sorted(links) == [("idea", 1, sepsis), ("project", project, falls)]

    ideas.items.clear()  # the idea was deleted where it lives: its link can still be cleared
    assert await service.unlink(WorkRef("idea", 1), actor=ACTOR) == sepsis
    with pytest.raises(AlignmentError, match=re.escape("Idea 1 is not linked to a goal.")):
        await service.unlink(WorkRef("idea", 1), actor=ACTOR)
    trail = [(action, target) for action, target, _a in audit_trail(db)]
    assert trail[-4:] == [
        ("alignment.link", "idea:1"), ("alignment.link", "idea:1"),
        ("alignment.link", f"project:{project}"), ("alignment.unlink", "idea:1"),
    ]  # fmt: skip


async def test_ideas_cannot_be_linked_until_a_source_of_ideas_is_wired(
    db: Database, clock: Clock
) -> None:
    only_projects = AlignmentService(db, clock, (ProjectWork(),))
    aim = await only_projects.add_aim("Safe care", actor=ACTOR)
    goal = await only_projects.add_goal(aim, "Fewer falls", None, actor=ACTOR)
    with pytest.raises(AlignmentError, match=re.escape("I can link project here, not ideas.")):
        await only_projects.link(goal, WorkRef("idea", 1), actor=ACTOR)
    with pytest.raises(ValueError, match="two work sources of one kind"):
        AlignmentService(db, clock, (ProjectWork(), ProjectWork()))


async def test_the_matrix_from_what_is_stored_and_every_source(
    service: AlignmentService, db: Database, ideas: IdeaBoard
) -> None:
    install_ward(db)
    safe = await service.add_aim("Safe care", actor=ACTOR)
    flow = await service.add_aim("Flow", actor=ACTOR)
    await service.add_aim("Great place to work", actor=ACTOR)
    falls = await service.add_goal(safe, "Fewer falls", "Falls per 1,000 bed days", actor=ACTOR)
    sepsis = await service.add_goal(safe, "Sepsis care", None, actor=ACTOR)
    discharge = await service.add_goal(flow, "Discharge before noon", None, actor=ACTOR)
    harm = await service.add_target("Patient safety framework", [falls, sepsis], actor=ACTOR)
    beds = await service.add_project(
        ProjectSpec(title="Low beds", team=WARD), goal_id=falls, actor=ACTOR
    )
    rota = await service.add_project(ProjectSpec(title="New rota app"), actor=ACTOR)
    await service.link(falls, WorkRef("idea", 1), actor=ACTOR)
    ideas.items.append(WorkItem("idea", 3, "x" * 600, "  ", "new"))

    matrix = await service.matrix()
    safe_row, flow_row, people_row = matrix.rows
    assert (safe_row.goal_count, safe_row.work_count, safe_row.goals_without_work) == (2, 2, 1)
    falls_row = safe_row.goals[0]
    assert falls_row.goal.measure == "Falls per 1,000 bed days"
    assert [t.id for t in falls_row.targets] == [harm]
    assert [(w.kind, w.id, w.team_name, w.status) for w in falls_row.work] == [
        ("project", beds, "Ward 7", "active"), ("idea", 1, "Ward 7", "testing"),
    ]  # fmt: skip
    assert [g.goal.id for g in flow_row.goals] == [discharge]
    assert flow_row.goals[0].has_no_work
    assert people_row.goals == ()
    unaligned = [(u.work.kind, u.work.id, u.reason) for u in matrix.unaligned]
    assert unaligned == [
        ("project", rota, UnalignedReason.NO_GOAL),
        ("idea", 2, UnalignedReason.NO_GOAL),
        ("idea", 3, UnalignedReason.NO_GOAL),
    ]
    long_idea = matrix.unaligned[-1].work
    assert (len(long_idea.title), long_idea.title[-1], long_idea.team_name) == (500, "…", None)
    stage = default_alignment_tool().stage("improvement-work")
    assert matrix.challenge.description == stage.description
    assert matrix.challenge.guiding_question == stage.guiding_question
    assert matrix.work_count == 5


async def test_decisions_are_audited_allowed_or_refused(
    service: AlignmentService, db: Database
) -> None:
    ivy = Identity("tenant-1", "29:ivy", "aad-ivy", "Ivy")
    nia = Identity("tenant-1", "29:nia", None, "Nia")
    assert await service.record_decision(ivy, "alignment.view", improvement_team=True)
    assert not await service.record_decision(nia, "alignment_aim_add", improvement_team=False)
    entries = db.run_sync(
        lambda s: [(a.actor, a.action, a.allowed) for a in s.exec(select(AuditEntry)).all()]
    )
    assert entries == [
        ("aad-ivy", "alignment.view", True),
        ("teams:29:nia", "alignment_aim_add", False),
    ]


async def test_the_same_aim_goal_target_or_project_is_recorded_once(
    service: AlignmentService, db: Database
) -> None:
    """A double tap on a form, or the same thing typed twice, records one; the second says
    which record is already there."""
    install_ward(db)
    aim = await service.add_aim("Safe care", actor=ACTOR)
    other = await service.add_aim("Flow", actor=ACTOR)
    goal = await service.add_goal(aim, "Fewer falls", None, actor=ACTOR)
    await service.add_goal(other, "Fewer falls", None, actor=ACTOR)  # under another aim: fine
    await service.add_target("Four-hour standard", [], actor=ACTOR)
    await service.add_project(ProjectSpec(title="Low beds", team=WARD), actor=ACTOR)
    await service.add_project(ProjectSpec(title="Low beds"), actor=ACTOR)  # no team: another
    cases = [
        (service.add_aim("  SAFE   care ", actor=ACTOR),
         "There is already an aim 'Safe care' (aim 1)."),
        (service.rename_aim(other, "safe care", actor=ACTOR),
         "There is already an aim 'Safe care' (aim 1)."),
        (service.add_goal(aim, "fewer FALLS", "x", actor=ACTOR),
         f"Aim {aim} already has the goal 'Fewer falls' (goal {goal})."),
        (service.update_goal(2, GoalChange(aim_id=aim), actor=ACTOR),
         f"Aim {aim} already has the goal 'Fewer falls' (goal {goal})."),
        (service.add_target("four-hour standard", [], actor=ACTOR),
         "There is already a national target 'Four-hour standard' (target 1)."),
        (service.add_project(ProjectSpec(title="LOW BEDS", team=WARD), actor=ACTOR),
         "There is already a project 'Low beds' (project 1)."),
        (service.update_project(2, ProjectSpec(team=WARD), actor=ACTOR),
         "There is already a project 'Low beds' (project 1)."),
    ]  # fmt: skip
    for attempt, message in cases:
        with pytest.raises(AlignmentError, match=re.escape(message)):
            await attempt
    await service.rename_aim(aim, "SAFE CARE", actor=ACTOR)  # itself, in other letters
    assert [a.title for a in await service.aims()] == ["SAFE CARE", "Flow"]
    assert len(await service.projects()) == 2
