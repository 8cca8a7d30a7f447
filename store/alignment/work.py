"""Improvement projects and the links from goals to improvement work, as stored: each change
audited. Functions take an open session (one transaction); problems raise `AlignmentError`.

A link names work by kind and id (`project:3`, `idea:12`). Whether that work exists is the
caller's to check (alignment.services: the work sources); here a project's removal takes its
link with it, and a link is replaced, never doubled, when work moves to another goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from alignment.rules.matrix import AlignmentError
from alignment.rules.records import ProjectStatus, WorkRef, clean_title
from store.alignment.strategy import get_goal, title_key
from store.alignment.tables import AlignmentLink, ImprovementProject
from store.audit import audit
from store.people import Person
from store.teams import Team, installed_team

PROJECT = "project"


@dataclass(frozen=True)
class ProjectRecord:
    """A project as listed: its team (Teams' id and name) and owner's name, where it has them."""

    id: int
    title: str
    status: str
    team_id: str | None
    team_name: str | None
    owner_person_id: int | None
    owner_name: str | None
    goal_id: int | None


@dataclass(frozen=True)
class ProjectSpec:
    """A new project, or a change to one (None: as it was). `team` is Teams' team id; `owner`
    a person the bot knows (people.id); `clear_team` / `clear_owner` remove them."""

    title: str | None = None
    team: str | None = None
    owner: int | None = None
    status: ProjectStatus | None = None
    clear_team: bool = False
    clear_owner: bool = False


# ---- people and teams, as a project names them ----------------------------------------------


def person_by_key(session: Session, key: str) -> Person:
    """Someone the bot knows, by Entra object id or Teams user id (never by name or email)."""
    wanted = key.strip()
    found = session.exec(
        select(Person).where(
            or_(
                sa.func.lower(Person.aad_object_id) == wanted.lower(),
                Person.teams_user_id == wanted,
            )
        )
    ).all()
    if not found:
        raise AlignmentError(
            f"I know nobody with the id '{wanted}': give their Entra object id or Teams id; "
            "they must have talked to me or been on a round's roster."
        )
    if len(found) > 1:
        raise AlignmentError(f"More than one person has the id '{wanted}'.")
    return found[0]


def _team(session: Session, teams_id: str) -> Team:
    team = installed_team(session, teams_id.strip())
    if team is None:
        raise AlignmentError(f"I'm not in a team with the id '{teams_id}'.")
    return team


# ---- projects ------------------------------------------------------------------------------


def get_project(session: Session, project_id: int) -> ImprovementProject:
    project = session.get(ImprovementProject, project_id)
    if project is None:
        raise AlignmentError(f"There is no project {project_id}.")
    return project


def list_projects(session: Session) -> list[ProjectRecord]:
    rows = session.exec(
        select(ImprovementProject, Team, Person, AlignmentLink)
        .outerjoin(Team, col(Team.id) == col(ImprovementProject.team_id))
        .outerjoin(Person, col(Person.id) == col(ImprovementProject.owner_person_id))
        .outerjoin(
            AlignmentLink,
            sa.and_(
                col(AlignmentLink.work_kind) == PROJECT,
                col(AlignmentLink.work_id) == col(ImprovementProject.id),
            ),
        )
        .order_by(col(ImprovementProject.id))
    ).all()
    return [
        ProjectRecord(
            id=project.id or 0,
            title=project.title,
            status=project.status,
            team_id=team.team_id if team else None,
            team_name=(team.name or team.team_id) if team else None,
            owner_person_id=project.owner_person_id,
            owner_name=(owner.name or "someone") if owner else None,
            goal_id=link.goal_id if link else None,
        )
        for project, team, owner, link in rows
    ]


def add_project(
    session: Session, spec: ProjectSpec, *, actor: str, now: datetime
) -> ImprovementProject:
    team = _team(session, spec.team) if spec.team else None
    if spec.owner is not None and session.get(Person, spec.owner) is None:
        raise AlignmentError(f"There is no person {spec.owner}.")
    title = clean_title(spec.title, "project's title")
    _refuse_same_title(session, title, team.id if team else None)
    project = ImprovementProject(
        title=title,
        title_key=title_key(title),
        team_id=team.id if team else None,
        owner_person_id=spec.owner,
        status=(spec.status or ProjectStatus.ACTIVE).value,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    session.flush()
    audit(session, actor=actor, action="alignment.project.add", target=f"project:{project.id}",
          detail={"title": project.title, "team": spec.team, "owner": spec.owner,
                  "status": project.status}, now=now)  # fmt: skip
    return project


def update_project(
    session: Session, project_id: int, spec: ProjectSpec, *, actor: str, now: datetime
) -> ImprovementProject:
    project = get_project(session, project_id)
    detail: dict[str, object] = {}
    if spec.title is not None:
        detail["title"] = project.title = clean_title(spec.title, "project's title")
        project.title_key = title_key(project.title)
    if spec.team is not None or spec.clear_team:
        project.team_id = None if spec.clear_team else _team(session, spec.team or "").id
        detail["team"] = None if spec.clear_team else spec.team
    _refuse_same_title(session, project.title, project.team_id, other_than=project_id)
    if spec.owner is not None or spec.clear_owner:
        if spec.owner is not None and session.get(Person, spec.owner) is None:
            raise AlignmentError(f"There is no person {spec.owner}.")
        project.owner_person_id = None if spec.clear_owner else spec.owner
        detail["owner"] = project.owner_person_id
    if spec.status is not None:
        detail["status"] = project.status = spec.status.value
    if not detail:
        raise AlignmentError("Say what to change: a title, a team, an owner or a status.")
    project.updated_at = now
    audit(session, actor=actor, action="alignment.project.update", target=f"project:{project_id}",
          detail=detail, now=now)  # fmt: skip
    return project


def _refuse_same_title(
    session: Session, title: str, team_id: int | None, other_than: int | None = None
) -> None:
    """One project of a title per team (and among projects of no team): a double tap or a
    second recording of the same project is refused, naming the one there is."""
    found = session.exec(
        select(ImprovementProject).where(
            ImprovementProject.title_key == title_key(title),
            col(ImprovementProject.team_id).is_(None)
            if team_id is None
            else ImprovementProject.team_id == team_id,
            col(ImprovementProject.id) != (other_than or 0),
        )
    ).first()
    if found is not None:
        raise AlignmentError(f"There is already a project '{found.title}' (project {found.id}).")


def remove_project(session: Session, project_id: int, *, actor: str, now: datetime) -> None:
    project = get_project(session, project_id)
    session.execute(
        sa.delete(AlignmentLink).where(
            col(AlignmentLink.work_kind) == PROJECT, col(AlignmentLink.work_id) == project_id
        )
    )
    session.delete(project)
    audit(session, actor=actor, action="alignment.project.remove", target=f"project:{project_id}",
          detail={"title": project.title}, now=now)  # fmt: skip


# ---- links from goals to work --------------------------------------------------------------


def goal_links(session: Session) -> dict[tuple[str, int], int]:
    """Every piece of linked work, (kind, id) → the goal it serves."""
    return {
        (link.work_kind, link.work_id): link.goal_id
        for link in session.exec(select(AlignmentLink)).all()
    }


def link_work(
    session: Session, goal_id: int, work: WorkRef, *, actor: str, now: datetime
) -> int | None:
    """The work serves this goal from now on; returns the goal it served before (if any)."""
    get_goal(session, goal_id)
    link = session.get(AlignmentLink, (work.kind, work.id))
    before = link.goal_id if link else None
    if link is None:
        link, before = _new_link(session, work, goal_id, actor, now)
    link.goal_id, link.linked_by, link.linked_at = goal_id, actor, now
    session.flush()
    audit(session, actor=actor, action="alignment.link", target=str(work),
          detail={"goal": goal_id, "was": before}, now=now)  # fmt: skip
    return before


def _new_link(
    session: Session, work: WorkRef, goal_id: int, actor: str, now: datetime
) -> tuple[AlignmentLink, int | None]:
    """A new link, or the one a racing transaction inserted a moment ago; and the goal the
    work served before this link (None, or the racing transaction's goal)."""
    link = AlignmentLink(
        work_kind=work.kind, work_id=work.id, goal_id=goal_id, linked_by=actor, linked_at=now
    )
    try:
        with session.begin_nested():
            session.add(link)
            session.flush()
    except sa.exc.IntegrityError:
        raced = session.get(AlignmentLink, (work.kind, work.id))
        assert raced is not None
        return raced, raced.goal_id
    return link, None


def unlink_work(session: Session, work: WorkRef, *, actor: str, now: datetime) -> int:
    """The work serves no goal; returns the goal it served."""
    link = session.get(AlignmentLink, (work.kind, work.id))
    if link is None:
        raise AlignmentError(f"{work.kind.capitalize()} {work.id} is not linked to a goal.")
    goal_id = link.goal_id
    session.delete(link)
    audit(session, actor=actor, action="alignment.unlink", target=str(work),
          detail={"goal": goal_id}, now=now)  # fmt: skip
    return goal_id
