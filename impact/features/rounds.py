"""Assessment rounds: the improvement team opens rounds for teams, everyone is invited and
nudged, each team gets its summary when the round closes; repeating rounds schedule the next.
Where the bot has huddle records for a team, its summary and Full results show them beside
question 18 (rounds' QuestionEvidence port, filled here with huddles' evidence)."""

from __future__ import annotations

from functools import partial

from bot.actions import rounds as actions
from bot.cards.rounds.messages import RoundCards
from bot.dialogs.rounds.admin import RoundsAdmin
from bot.dialogs.rounds.participation import RoundParticipation
from bot.registry import CardVerb, FeatureContext, Route, TextCommand
from bot.routes.charts import chart_route
from bot.routes.exports import export_route
from cli.rounds import ROUNDS as ROUNDS_CLI
from huddles.services.evidence import huddle_evidence
from impact.feature import Feature
from rounds.rules.preferences import is_preferences_command
from rounds.services import jobs
from rounds.services.opening import RoundOpener
from rounds.services.steps import RoundSteps
from scheduler.work import ScheduledWork
from store.rounds.personal import AUDIT, MESSAGES
from store.rounds.personal import ROUNDS as ROUNDS_DATA

A, P = RoundsAdmin, RoundParticipation


def round_steps(ctx: FeatureContext) -> RoundSteps:
    """The round steps as the scheduler runs them (tests build them the same way)."""
    options, messages = ctx.settings.round_options(), RoundCards()
    opener = RoundOpener(
        ctx.db,
        ctx.teams,
        ctx.framework,
        options,
        messages,
        on_queued=ctx.wake_sender,
        give_way=ctx.give_way,
        process_reads=ctx.process_reads,  # invitation batches drawn in the worker process
    )
    return RoundSteps(
        ctx.db,
        ctx.framework,
        options,
        messages,
        opener,
        on_queued=ctx.wake_sender,
        evidence=huddle_evidence,
        process_reads=ctx.process_reads,
        give_way=ctx.give_way,
    )


def _scheduled(ctx: FeatureContext) -> ScheduledWork:
    steps = round_steps(ctx)
    return ScheduledWork(
        source=jobs.RoundJobSource(ctx.db),
        handlers={
            jobs.OPEN_ROUND: jobs.run_all(steps.open_due),
            jobs.CLOSE_ROUND: jobs.run_all(steps.close_due),
            jobs.REPEAT_ROUND: jobs.run_all(steps.repeat_due),
            jobs.NUDGES_TICK: jobs.run_all(steps.nudge_due),
            jobs.RETRY_ROSTERS: jobs.run_all(steps.opener.pending.retry_due),
        },
    )


ROUNDS = Feature(
    name="rounds",
    dialogs=(partial(RoundsAdmin, evidence=huddle_evidence), RoundParticipation),
    commands=(
        TextCommand(
            A.show_rounds,
            words=("rounds", "round"),
            title="rounds",
            description="Assessment rounds (improvement team)",
        ),
        TextCommand(
            A.new_round_text,
            words=("new round",),
            menu=frozenset(),  # the rounds card opens the form
            title="new round",
            description="Open a new round (improvement team)",
        ),
        TextCommand(
            P.reminders,
            matches=is_preferences_command,
            title="reminders",
            description="When I may remind you: reminders mon-fri 09:00-17:00, "
            "away until 24 December",
        ),
    ),
    verbs=(
        CardVerb(actions.SnoozeAction, P.on_snooze),
        CardVerb(actions.OptOutAction, P.on_opt_out),
        CardVerb(actions.ReminderTimesAction, P.on_reminder_times),
        CardVerb(actions.RoundNewAction, A.on_new),
        CardVerb(actions.RoundCreateAction, A.on_create),
        CardVerb(actions.RoundExtendAction, A.on_extend),
        CardVerb(actions.RoundCloseAction, A.on_close),
        CardVerb(actions.RoundCancelAction, A.on_cancel),
        CardVerb(actions.ResultsAction, A.on_results),
        CardVerb(actions.ExportAction, A.on_export),
    ),
    jobs=_scheduled,
    routes=(
        Route("GET", "/charts/{token}.png", chart_route),
        Route("GET", "/exports/{token}", export_route),
    ),
    cli=(ROUNDS_CLI,),
    personal_data=(ROUNDS_DATA, MESSAGES, AUDIT),
)
