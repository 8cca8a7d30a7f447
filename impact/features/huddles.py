"""Team huddles: a lead's schedules, the prompt posted in the team's channel at the set time
(through the outbox, never twice), ideas, actions and escalations captured from its card, the
escalations climbing the team tree, owners' nudges, Monday digests; and the CLI's `huddles`,
`ideas` and `teams` commands."""

from __future__ import annotations

from datetime import datetime

from bot.actions import huddles as actions
from bot.dialogs.huddles.admin import HuddleAdmin, is_schedule_change
from bot.dialogs.huddles.board import HuddleBoard
from bot.dialogs.huddles.wiring import huddle_services
from bot.registry import ANYWHERE, PERSONAL, CardVerb, FeatureContext, Scope, TextCommand
from cli.huddles import HUDDLES as HUDDLES_CLI
from cli.huddles import IDEAS as IDEAS_CLI
from cli.teams import TEAMS as TEAMS_CLI
from huddles.services import jobs
from huddles.services.steps import HuddleSteps
from impact.feature import Feature
from scheduler.work import ScheduledWork
from store.huddles.personal import HUDDLES as HUDDLES_DATA

B, A = HuddleBoard, HuddleAdmin
CHANNEL: frozenset[Scope] = frozenset({"channel"})
CHANNEL_OR_CHAT: frozenset[Scope] = frozenset({"channel", "personal"})


def huddle_steps(ctx: FeatureContext) -> HuddleSteps:
    """The huddle steps as the scheduler runs them (tests build them the same way)."""
    return huddle_services(ctx).steps


def _scheduled(ctx: FeatureContext) -> ScheduledWork:
    steps = huddle_steps(ctx)

    async def post(_key: str, now: datetime) -> None:
        await steps.post_due(now)

    async def tick(_key: str, now: datetime) -> None:
        await steps.run_due(now)

    return ScheduledWork(
        source=jobs.HuddleJobSource(ctx.db), handlers={jobs.POST: post, jobs.TICK: tick}
    )


# Listed in Teams' command menu where a team works: its channels and group chats.
TEAM_CHANNELS: frozenset[Scope] = frozenset({"channel", "groupChat"})

HUDDLES = Feature(
    name="huddles",
    dialogs=(HuddleBoard, HuddleAdmin),
    commands=(
        TextCommand(
            B.show_ideas,
            words=("ideas",),
            scopes=ANYWHERE,
            menu=TEAM_CHANNELS,
            title="ideas",
            description="The team's open ideas (in its channel)",
        ),
        TextCommand(
            B.show_actions,
            words=("actions",),
            scopes=ANYWHERE,
            menu=TEAM_CHANNELS,
            title="actions",
            description="The team's open actions (in its channel)",
        ),
        TextCommand(
            A.schedule_text,
            words=("huddle schedule", "huddle schedules"),
            scopes=ANYWHERE,
            menu=TEAM_CHANNELS,
            title="huddle schedule",
            description="Set the team's huddles (its leads)",
        ),
        TextCommand(
            A.change_text,
            matches=is_schedule_change,
            scopes=ANYWHERE,
            menu=TEAM_CHANNELS,
            title="huddle pause",
            description="huddle pause, resume, skip [date], delete",
        ),
        TextCommand(
            A.huddles_text,
            words=("huddles",),
            scopes=PERSONAL,
            title="huddles",
            description="The huddles of the teams you lead",
        ),
        TextCommand(
            A.tree_text,
            words=("team tree", "huddle cascade"),
            scopes=PERSONAL,
            title="team tree",
            description="Arrange the huddle cascade (improvement team)",
        ),
    ),
    verbs=(
        CardVerb(actions.HuddleHereAction, B.on_here, CHANNEL),
        CardVerb(actions.HuddleIdeaAction, B.on_idea, CHANNEL),
        CardVerb(actions.HuddleActionItemAction, B.on_action, CHANNEL),
        CardVerb(actions.HuddleEscalationAction, B.on_escalation, CHANNEL),
        CardVerb(actions.HuddleItemAction, B.on_item, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddleHeldAction, B.on_held, CHANNEL),
        CardVerb(actions.HuddleNotHeldAction, B.on_not_held, CHANNEL),
        CardVerb(actions.HuddleScheduleFormAction, A.on_form, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddleScheduleSaveAction, A.on_save, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddlePauseAction, A.on_pause, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddleResumeAction, A.on_resume, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddleSkipAction, A.on_skip, CHANNEL_OR_CHAT),
        CardVerb(actions.HuddleDeleteAction, A.on_delete, CHANNEL_OR_CHAT),
        CardVerb(actions.TeamParentAction, A.on_parent),
    ),
    jobs=_scheduled,
    cli=(TEAMS_CLI, HUDDLES_CLI, IDEAS_CLI),
    personal_data=(HUDDLES_DATA,),
)
