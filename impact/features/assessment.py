"""The self-assessment: questions one at a time in the 1:1 chat, review, submit, profile."""

from __future__ import annotations

from bot.actions import assessment as actions
from bot.dialogs.assessment import PAUSE_WORDS, START_WORDS, THANKS_WORDS, AssessmentDialog
from bot.registry import CardVerb, TextCommand
from impact.feature import Feature
from store.assessments.personal import ASSESSMENTS, PEOPLE

D = AssessmentDialog

ASSESSMENT = Feature(
    name="assessment",
    dialogs=(AssessmentDialog,),
    commands=(
        TextCommand(
            D.start_text,
            words=START_WORDS,
            title="start",
            description="Start the self-assessment, or carry on where you left off",
        ),
        TextCommand(
            D.status_text,
            words=("status",),
            title="status",
            description="How far you have got, or your profile once submitted",
        ),
        TextCommand(
            D.restart_text,
            words=("restart",),
            title="restart",
            description="Start again (asks first)",
        ),
        TextCommand(
            D.pause_text,
            words=PAUSE_WORDS,
            title="stop",
            description="Stop for now; your answers are kept",
        ),
        TextCommand(
            D.help_text,
            words=("help", "hi", "hello", "menu"),
            title="help",
            description="What I can do",
        ),
        TextCommand(D.thanks_text, words=THANKS_WORDS),
    ),
    verbs=(
        CardVerb(actions.StartAction, D.on_start),
        CardVerb(actions.HelpAction, D.on_help),
        CardVerb(actions.CarryOnAction, D.on_carry_on),
        CardVerb(actions.ChooseAction, D.on_choose),
        CardVerb(actions.AnswerAction, D.on_answer),
        CardVerb(actions.SkipAction, D.on_skip),
        CardVerb(actions.BackAction, D.on_back),
        CardVerb(actions.ChangeAction, D.on_change),
        CardVerb(actions.SubmitAction, D.on_submit),
        CardVerb(actions.RestartAction, D.on_restart),
        CardVerb(actions.ReopenAction, D.on_reopen),
        CardVerb(actions.RoleAction, D.on_role),
    ),
    fallback=D.not_understood,
    welcome=D.welcome,
    recover=D.recover,
    holds_card=D.holds_card,
    personal_data=(PEOPLE, ASSESSMENTS),
)
