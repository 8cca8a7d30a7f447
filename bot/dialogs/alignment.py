"""Strategic alignment in the personal chat, for the improvement team: `alignment`, `aims` or
`matrix` shows the matrix card (pages of aims → goals → targets → work, and the work linked to no
aim); Record or link… opens the forms, each asking its stage's guiding question from seed 000.

Every command and card action is checked on the server (the improvement team, as for rounds:
rounds.services.improvement_team) and the decision audited, allowed or refused
(alignment.services.service). A refusal says so in one line; a form with a problem comes back
with what was typed and a note; a recorded change comes back as the matrix with a ✓ note.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from alignment.rules.matrix import AlignmentError
from alignment.rules.records import (
    ProjectStatus,
    parse_id,
    parse_status,
    parse_work_ref,
)
from alignment.services.ports import WorkSource
from alignment.services.service import AlignmentService, ProjectSpec, actor_of
from bot.actions.alignment import (
    AimAddAction,
    AlignmentFormAction,
    AlignmentMenuAction,
    AlignmentPageAction,
    GoalAddAction,
    ProjectAddAction,
    TargetAddAction,
    WorkLinkAction,
)
from bot.actions.base import CardAction
from bot.cards.alignment.forms import (
    NO_GOAL,
    Choice,
    FormName,
    FormView,
    form_card,
    menu_card,
    refused_card,
)
from bot.cards.alignment.matrix import matrix_card
from bot.cards.alignment.parts import KIND_NAMES
from bot.cards.common import Card
from bot.registry import FeatureContext, Reply, Turn
from framework.content import default_alignment_tool
from rounds.rules.access import REFUSED, Policy
from rounds.services.improvement_team import ImprovementTeam

STAGES: dict[FormName, str] = {
    "aim": "strategic-aims",
    "goal": "measurable-goals",
    "target": "national-targets",
    "project": "improvement-work",
    "link": "improvement-work",
}
NOT_RECORDED = "Nothing was recorded."
Change = Callable[[str], Awaitable[str]]  # the actor → the ✓ note


class AlignmentDialog:
    def __init__(self, ctx: FeatureContext, sources: Sequence[WorkSource]) -> None:
        settings = ctx.settings
        self.tool = default_alignment_tool()
        self.service = AlignmentService(ctx.db, ctx.clock, sources, tool=self.tool)
        self.improvement_team = ImprovementTeam(
            ctx.db, Policy.of(settings.admin_ids), ctx.teams, settings.improvement_team_id
        )

    # -- the matrix ---------------------------------------------------------------------------

    async def show(self, turn: Turn, _text: str) -> Reply:
        if not await self._allowed(turn, "alignment.view"):
            return Reply(send=[refused_card(REFUSED, {})])
        return Reply(send=[await self._matrix()])

    async def on_page(self, turn: Turn, action: AlignmentPageAction) -> Reply:
        if not await self._allowed(turn, action.verb):
            return Reply(replace=refused_card(REFUSED, {}))
        return Reply(replace=await self._matrix(action.page))

    async def on_menu(self, turn: Turn, action: AlignmentMenuAction) -> Reply:
        if not await self._allowed(turn, action.verb):
            return Reply(replace=refused_card(REFUSED, {}))
        return Reply(replace=await self._matrix(action.page), send=[menu_card(action.page)])

    async def on_form(self, turn: Turn, action: AlignmentFormAction) -> Reply:
        if not await self._allowed(turn, action.verb):
            return Reply(replace=refused_card(REFUSED, {}))
        return Reply(replace=await self._form(action.form, page=action.page))

    # -- the forms ----------------------------------------------------------------------------

    async def on_add_aim(self, turn: Turn, action: AimAddAction) -> Reply:
        async def change(actor: str) -> str:
            aim_id = await self.service.add_aim(action.title or "", actor=actor)
            return f"✓ Aim {aim_id} recorded."

        return await self._record(turn, action, "aim", {"title": action.title}, change)

    async def on_add_goal(self, turn: Turn, action: GoalAddAction) -> Reply:
        async def change(actor: str) -> str:
            aim_id = parse_id(action.aim, "an aim")
            goal_id = await self.service.add_goal(
                aim_id, action.title or "", action.measure, actor=actor
            )
            return f"✓ Goal {goal_id} recorded under aim {aim_id}."

        typed = {"aim": action.aim, "title": action.title, "measure": action.measure}
        return await self._record(turn, action, "goal", typed, change)

    async def on_add_target(self, turn: Turn, action: TargetAddAction) -> Reply:
        async def change(actor: str) -> str:
            goals = [parse_id(g, "a goal") for g in (action.goals or "").split(",") if g.strip()]
            target_id = await self.service.add_target(action.title or "", goals, actor=actor)
            return f"✓ National target {target_id} recorded."

        typed = {"title": action.title, "goals": action.goals}
        return await self._record(turn, action, "target", typed, change)

    async def on_add_project(self, turn: Turn, action: ProjectAddAction) -> Reply:
        async def change(actor: str) -> str:
            goal_id = parse_id(action.goal, "a goal") if action.goal else None
            owner = await self.service.person_of(turn.identity) if action.lead == "true" else None
            status = parse_status(action.status or ProjectStatus.ACTIVE)
            spec = ProjectSpec(action.title or "", action.team, owner, status)
            project_id = await self.service.add_project(spec, goal_id=goal_id, actor=actor)
            linked = f", serving goal {goal_id}" if goal_id else ""
            return f"✓ Project {project_id} recorded{linked}."

        typed = {
            "title": action.title,
            "team": action.team,
            "status": action.status,
            "lead": action.lead,
            "goal": action.goal,
        }
        return await self._record(turn, action, "project", typed, change)

    async def on_link(self, turn: Turn, action: WorkLinkAction) -> Reply:
        async def change(actor: str) -> str:
            work = parse_work_ref(action.work)
            name = f"{KIND_NAMES[work.kind]} {work.id}"
            if action.goal == NO_GOAL:
                goal_id = await self.service.unlink(work, actor=actor)
                return f"✓ {name} no longer serves goal {goal_id}."
            goal_id = parse_id(action.goal, "a goal")
            await self.service.link(goal_id, work, actor=actor)
            return f"✓ {name} now serves goal {goal_id}."

        typed = {"work": action.work, "goal": action.goal}
        return await self._record(turn, action, "link", typed, change)

    # -- helpers ------------------------------------------------------------------------------

    async def _record(
        self,
        turn: Turn,
        action: CardAction,
        form: FormName,
        typed: Mapping[str, str | None],
        change: Change,
    ) -> Reply:
        values = {name: value for name, value in typed.items() if value}
        if not await self._allowed(turn, action.verb):
            return Reply(replace=refused_card(REFUSED, values))
        try:
            done = await change(actor_of(turn.identity))
        except AlignmentError as exc:
            note = f"{exc} {NOT_RECORDED}"
            return Reply(replace=await self._form(form, values=values, notice=note))
        return Reply(replace=await self._matrix(notice=done))

    async def _allowed(self, turn: Turn, action: str) -> bool:
        member = await self.improvement_team.includes(turn.identity)
        return await self.service.record_decision(turn.identity, action, improvement_team=member)

    async def _matrix(self, page: int = 1, notice: str | None = None) -> Card:
        matrix = await self.service.matrix()
        first = self.tool.stage("strategic-aims").question
        return matrix_card(matrix, page=page, notice=notice, first_question=first)

    async def _form(
        self,
        form: FormName,
        *,
        page: int = 1,
        values: Mapping[str, str] | None = None,
        notice: str | None = None,
    ) -> Card:
        stage = self.tool.stage(STAGES[form])
        choices = await self._choices(form)
        view = FormView(
            form,
            stage.name,
            stage.description,
            stage.question,
            values=values,
            notice=notice,
            **choices,
        )
        return form_card(view, page=page)

    async def _choices(self, form: FormName) -> dict[str, Any]:
        """What the form offers to choose from, read now (never from the card)."""
        if form == "aim":
            return {}
        if form == "goal":
            return {"aims": tuple(Choice(str(a.id), a.title) for a in await self.service.aims())}
        goals = tuple(
            Choice(str(g.id), f"Goal {g.id}: {g.title}") for g in await self.service.goals()
        )
        if form == "target":
            return {"goals": goals}
        if form == "project":
            teams = tuple(
                Choice(t.team_id, t.name or t.team_id) for t in await self.service.teams()
            )
            statuses = tuple(Choice(s.value, s.value.capitalize()) for s in ProjectStatus)
            return {"goals": goals, "teams": teams, "statuses": statuses}
        records = await self.service.records()
        unaligned_first = sorted(records.work, key=lambda w: w.goal_id is not None)
        work = tuple(
            Choice(f"{w.kind}:{w.id}", f"{KIND_NAMES[w.kind]} {w.id}: {w.title}")
            for w in unaligned_first
        )
        return {"goals": goals, "work": work}
