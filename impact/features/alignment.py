"""Strategic alignment (seed 000): the improvement team records the organisation's strategic
aims, measurable goals, national targets and improvement projects, links work to goals, and
reads the matrix (aims → goals → targets → work, and the work linked to no aim), in Teams and
from the command line."""

from __future__ import annotations

from alignment.services.ideas import IdeaWork
from alignment.services.ports import WorkSource
from alignment.services.projects import ProjectWork
from bot.actions import alignment as actions
from bot.dialogs.alignment import AlignmentDialog
from bot.registry import CardVerb, FeatureContext, TextCommand
from cli.alignment import alignment_commands
from impact.feature import Feature
from store.alignment.personal import ALIGNMENT as ALIGNMENT_DATA

WORK_SOURCES: tuple[WorkSource, ...] = (ProjectWork(), IdeaWork())
"""Every kind of improvement work the matrix shows and links to goals, for Teams and the CLI
alike: improvement projects, and the ideas raised in teams' huddles."""


class Alignment(AlignmentDialog):
    """The alignment dialog, reading work from this service's sources."""

    def __init__(self, ctx: FeatureContext) -> None:
        super().__init__(ctx, WORK_SOURCES)


D = Alignment

ALIGNMENT = Feature(
    name="alignment",
    dialogs=(Alignment,),
    commands=(
        TextCommand(
            D.show,
            words=("alignment", "aims", "matrix"),
            title="alignment",
            description="Strategic aims, goals, national targets and the work serving them "
            "(improvement team)",
        ),
    ),
    verbs=(
        CardVerb(actions.AlignmentPageAction, D.on_page),
        CardVerb(actions.AlignmentMenuAction, D.on_menu),
        CardVerb(actions.AlignmentFormAction, D.on_form),
        CardVerb(actions.AimAddAction, D.on_add_aim),
        CardVerb(actions.GoalAddAction, D.on_add_goal),
        CardVerb(actions.TargetAddAction, D.on_add_target),
        CardVerb(actions.ProjectAddAction, D.on_add_project),
        CardVerb(actions.WorkLinkAction, D.on_link),
    ),
    cli=alignment_commands(WORK_SOURCES),
    personal_data=(ALIGNMENT_DATA,),
)
