"""Strategic alignment, the same from Teams (bot.dialogs.alignment) and the command line
(cli.alignment): record, change and remove aims, goals, national targets and projects; link work
to a goal; build the matrix. Each method is one unit of work, and every change is audited.

Who may act is decided by the caller (the improvement team: rounds.services.improvement_team)
and recorded here with `record_decision`, allowed or refused. The command line acts as whoever
runs it on the service's database, as the rounds commands do.

Work comes from `WorkSource`s (alignment.services.ports): projects, and whatever the composition
root adds (huddle ideas). A link is checked against them: only work that exists is linked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from alignment.rules.matrix import (
    MAX_TEAM_NAME_CHARS,
    MAX_WORK_TITLE_CHARS,
    Aim,
    AlignmentError,
    Goal,
    Matrix,
    Target,
    Work,
    build_matrix,
)
from alignment.rules.records import WorkRef
from alignment.services.ports import WorkItem, WorkSource
from framework.content import AlignmentTool, default_alignment_tool
from framework.identity import Identity
from rounds.services.admin import actor_of
from store.alignment import strategy, work
from store.alignment.strategy import GoalChange, TargetRecord
from store.alignment.tables import MeasurableGoal, StrategicAim
from store.alignment.work import ProjectRecord, ProjectSpec
from store.audit import audit
from store.db import Database
from store.people import ensure_person
from store.teams import Team, installed_teams

__all__ = [
    "AlignmentError",
    "AlignmentService",
    "GoalChange",
    "ProjectSpec",
    "Records",
    "actor_of",
]

T = TypeVar("T")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Records:
    """Everything recorded, for forms and lists: aims, goals, targets, projects, all work."""

    aims: tuple[StrategicAim, ...]
    goals: tuple[MeasurableGoal, ...]
    targets: tuple[TargetRecord, ...]
    work: tuple[Work, ...]


class AlignmentService:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        sources: Sequence[WorkSource],
        *,
        tool: AlignmentTool | None = None,
    ) -> None:
        kinds = [source.kind for source in sources]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"two work sources of one kind: {kinds}")
        self.db = db
        self.clock = clock
        self.sources: dict[str, WorkSource] = {source.kind: source for source in sources}
        self.tool = tool or default_alignment_tool()

    # -- reading ------------------------------------------------------------------------------

    async def aims(self) -> list[StrategicAim]:
        return await self.db.run(strategy.list_aims)

    async def goals(self, aim_id: int | None = None) -> list[MeasurableGoal]:
        return await self.db.run(lambda s: strategy.list_goals(s, aim_id))

    async def targets(self) -> list[TargetRecord]:
        return await self.db.run(strategy.list_targets)

    async def projects(self) -> list[ProjectRecord]:
        return await self.db.run(work.list_projects)

    async def teams(self) -> list[Team]:
        return await self.db.run(installed_teams)

    async def matrix(self) -> Matrix:
        """Aims → goals → national targets → work, with the work linked to no aim."""
        records = await self.records()
        return build_matrix(
            [Aim(a.id or 0, a.title) for a in records.aims],
            [Goal(g.id or 0, g.aim_id, g.title, g.measure) for g in records.goals],
            [Target(t.id, t.title, t.goal_ids) for t in records.targets],
            records.work,
            tool=self.tool,
        )

    async def records(self) -> Records:
        """Everything, read in one transaction so the matrix is of one moment."""

        def read(session: Session) -> Records:
            links = work.goal_links(session)
            return Records(
                tuple(strategy.list_aims(session)),
                tuple(strategy.list_goals(session)),
                tuple(strategy.list_targets(session)),
                tuple(
                    _work(item, links.get((item.kind, item.id)))
                    for source in self.sources.values()
                    for item in source.list_work(session)
                ),
            )

        return await self.db.run(read)

    # -- aims, goals, targets -----------------------------------------------------------------

    async def add_aim(self, title: str, *, actor: str) -> int:
        return await self._id(lambda s, now: strategy.add_aim(s, title, actor=actor, now=now).id)

    async def rename_aim(self, aim_id: int, title: str, *, actor: str) -> None:
        await self._do(lambda s, now: strategy.rename_aim(s, aim_id, title, actor=actor, now=now))

    async def remove_aim(self, aim_id: int, *, actor: str) -> None:
        await self._do(lambda s, now: strategy.remove_aim(s, aim_id, actor=actor, now=now))

    async def add_goal(self, aim_id: int, title: str, measure: str | None, *, actor: str) -> int:
        return await self._id(
            lambda s, now: strategy.add_goal(s, aim_id, title, measure, actor=actor, now=now).id
        )

    async def update_goal(self, goal_id: int, change: GoalChange, *, actor: str) -> None:
        await self._do(
            lambda s, now: strategy.update_goal(s, goal_id, change, actor=actor, now=now)
        )

    async def remove_goal(self, goal_id: int, *, actor: str) -> list[str]:
        """Returns the work that was linked to it (`kind:id`), now unaligned."""
        return await self._do(lambda s, now: strategy.remove_goal(s, goal_id, actor=actor, now=now))

    async def add_target(self, title: str, goal_ids: Sequence[int], *, actor: str) -> int:
        return await self._id(
            lambda s, now: strategy.add_target(s, title, goal_ids, actor=actor, now=now).id
        )

    async def rename_target(self, target_id: int, title: str, *, actor: str) -> None:
        await self._do(
            lambda s, now: strategy.rename_target(s, target_id, title, actor=actor, now=now)
        )

    async def link_target(self, target_id: int, goal_ids: Sequence[int], *, actor: str) -> None:
        await self._do(
            lambda s, now: strategy.link_target(s, target_id, goal_ids, actor=actor, now=now)
        )

    async def unlink_target(self, target_id: int, goal_ids: Sequence[int], *, actor: str) -> None:
        await self._do(
            lambda s, now: strategy.unlink_target(s, target_id, goal_ids, actor=actor, now=now)
        )

    async def remove_target(self, target_id: int, *, actor: str) -> None:
        await self._do(lambda s, now: strategy.remove_target(s, target_id, actor=actor, now=now))

    # -- projects -----------------------------------------------------------------------------

    async def add_project(
        self, spec: ProjectSpec, *, goal_id: int | None = None, actor: str
    ) -> int:
        """A new project, linked to `goal_id` if given (both or neither)."""

        def add(session: Session, now: datetime) -> int | None:
            project = work.add_project(session, spec, actor=actor, now=now)
            assert project.id is not None
            if goal_id is not None:
                work.link_work(session, goal_id, WorkRef("project", project.id), actor=actor,
                               now=now)  # fmt: skip
            return project.id

        return await self._id(add)

    async def update_project(self, project_id: int, spec: ProjectSpec, *, actor: str) -> None:
        await self._do(
            lambda s, now: work.update_project(s, project_id, spec, actor=actor, now=now)
        )

    async def remove_project(self, project_id: int, *, actor: str) -> None:
        await self._do(lambda s, now: work.remove_project(s, project_id, actor=actor, now=now))

    async def person_by_key(self, key: str) -> int:
        """people.id of someone the bot knows, by Entra object id or Teams id (a project owner)."""
        person = await self.db.run(lambda s: work.person_by_key(s, key))
        assert person.id is not None
        return person.id

    async def person_of(self, identity: Identity) -> int:
        """people.id of the person speaking (who says "I lead this project")."""
        person = await self._do(lambda s, now: ensure_person(s, identity, now))
        assert person.id is not None
        return person.id

    # -- links from goals to work ---------------------------------------------------------------

    async def link(self, goal_id: int, ref: WorkRef, *, actor: str) -> int | None:
        """The work serves this goal from now on (returns the goal it served before, if any).
        Refused for work that no source lists."""

        def link(session: Session, now: datetime) -> int | None:
            self._check_exists(session, ref)
            return work.link_work(session, goal_id, ref, actor=actor, now=now)

        return await self._do(link)

    async def unlink(self, ref: WorkRef, *, actor: str) -> int:
        """The work serves no goal (returns the goal it served). Works for work that no longer
        exists too, so that a link left behind can be cleared."""
        return await self._do(lambda s, now: work.unlink_work(s, ref, actor=actor, now=now))

    def _check_exists(self, session: Session, ref: WorkRef) -> None:
        source = self.sources.get(ref.kind)
        if source is None:
            known = " or ".join(sorted(self.sources)) or "nothing"
            raise AlignmentError(f"I can link {known} here, not {ref.kind}s.")
        if not any(item.id == ref.id for item in source.list_work(session)):
            raise AlignmentError(f"There is no {ref.kind} {ref.id}.")

    # -- who may ------------------------------------------------------------------------------

    async def record_decision(
        self, identity: Identity, action: str, *, improvement_team: bool
    ) -> bool:
        """Only the improvement team records and changes alignment, and reads the matrix in
        Teams; the decision is audited either way."""
        actor = actor_of(identity)

        def decide(session: Session, now: datetime) -> bool:
            audit(session, actor=actor, action=action, allowed=improvement_team, now=now)
            return improvement_team

        return await self._do(decide)

    # -- helpers ------------------------------------------------------------------------------

    async def _do(self, change: Callable[[Session, datetime], T]) -> T:
        now = self.clock()
        return await self.db.run(lambda session: change(session, now))

    async def _id(self, change: Callable[[Session, datetime], int | None]) -> int:
        found = await self._do(change)
        assert found is not None
        return found


def _work(item: WorkItem, goal_id: int | None) -> Work:
    """A source's item as the matrix takes it: one line of text, at most the longest title."""
    title = _WHITESPACE.sub(" ", item.title).strip() or f"{item.kind} {item.id}"
    if len(title) > MAX_WORK_TITLE_CHARS:
        title = title[: MAX_WORK_TITLE_CHARS - 1] + "…"
    team = _WHITESPACE.sub(" ", item.team_name or "").strip()[:MAX_TEAM_NAME_CHARS] or None
    return Work(item.id, title, item.kind, team, goal_id, item.status or None)
