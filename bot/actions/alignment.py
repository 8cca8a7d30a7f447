"""Strategic alignment's card actions: turning the matrix's pages, opening a form, and the forms
the improvement team sends back. Every field is checked again, with clear messages, when acted
on (alignment.rules.records); typed text may be longer than allowed here so that the form comes
back with a note, and with what was typed, rather than being refused whole."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from bot.actions.base import CardAction, Short

Page = Annotated[int, Field(ge=1, le=100_000)]
Typed = Annotated[str, StringConstraints(max_length=2_000)]
Many = Annotated[str, StringConstraints(max_length=4_000)]  # a multi-select: "1,4,9"
TeamId = Annotated[str, StringConstraints(max_length=300)]  # Teams' id: 19:…@thread.tacv2


class AlignmentPageAction(CardAction):
    """Previous / Next page on the matrix, and Back to the matrix on a form."""

    verb: Literal["alignment_page"]
    page: Page = 1


class AlignmentMenuAction(CardAction):
    """Record or link…, on the matrix: the menu of forms (the matrix stays on its page)."""

    verb: Literal["alignment_menu"]
    page: Page = 1


class AlignmentFormAction(CardAction):
    verb: Literal["alignment_form"]
    form: Literal["aim", "goal", "target", "project", "link"]
    page: Page = 1


class AimAddAction(CardAction):
    verb: Literal["alignment_aim_add"]
    title: Typed | None = None


class GoalAddAction(CardAction):
    verb: Literal["alignment_goal_add"]
    aim: Short | None = None
    title: Typed | None = None
    measure: Typed | None = None


class TargetAddAction(CardAction):
    verb: Literal["alignment_target_add"]
    title: Typed | None = None
    goals: Many | None = None


class ProjectAddAction(CardAction):
    verb: Literal["alignment_project_add"]
    title: Typed | None = None
    team: TeamId | None = None
    status: Short | None = None
    lead: Literal["true", "false"] | None = None
    goal: Short | None = None


class WorkLinkAction(CardAction):
    verb: Literal["alignment_link"]
    work: Short | None = None
    goal: Short | None = None
