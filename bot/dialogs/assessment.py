"""The self-assessment conversation: turns a validated card action or a text command into a
call of the assessment service and the outcome into cards. Its commands and verbs are declared
in impact/features/assessment.py; the transitions, in the manner of a ConversationHandler:

    verb / command        service call                         reply
    start | resume        start_or_resume                      current screen's card
    answer | skip | back  act → assessment.rules.decide        used card settles; next screen
    change | submit       act → assessment.rules.decide        review settles; question / profile
    restart (text)        (none)                               confirmation card
    restart (button)      restart                              question 1
    status                current                              progress, or the profile
    help / anything else  (none)                               help card

Refusals (stale card, double tap, someone else's assessment, already submitted) change nothing:
the used card settles to what is stored and the person gets a short note with their current card.
"""

from __future__ import annotations

from assessment import rules as domain
from assessment.service import AssessmentService
from bot.actions.assessment import (
    AnswerAction,
    BackAction,
    ChangeAction,
    HelpAction,
    ReopenAction,
    RestartAction,
    RoleAction,
    SkipAction,
    StartAction,
    SubmitAction,
)
from bot.actions.base import clean_text
from bot.cards import assessment as cards
from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    LevelChoice,
    NoticeView,
    ProfileLine,
    ProfileView,
    QuestionView,
    ReviewRow,
    ReviewSection,
    ReviewView,
    SettledView,
    WelcomeView,
)
from bot.cards.common import Card
from bot.cards.rounds.invitation import role_card
from bot.registry import FeatureContext, Reply, Turn
from framework.identity import Identity
from framework.scoring import LevelSummary, profile
from rounds.rules.roles import ROLE_KEYS, ROLES, role_label
from store.assessments.aggregate import Outcome

REFUSAL_NOTES = {
    domain.Refusal.STALE: "That card is out of date, so nothing was changed. "
    "Here is where you are now.",
    domain.Refusal.ALREADY_RECORDED: "That answer was already saved. Here is where you are now.",
    domain.Refusal.NOT_YOURS: "That card is not part of your assessment, so nothing was changed.",
    domain.Refusal.CLOSED: "That assessment has already been submitted, so it can't be changed.",
    domain.Refusal.OUT_OF_RANGE: "That card asked for a question or level that doesn't exist, "
    "so nothing was changed.",
    domain.Refusal.NOTHING_ANSWERED: "Answer at least one question before you submit.",
    domain.Refusal.ROUND_CLOSED: "That round has closed, so the answers can't be changed now.",
    domain.Refusal.OTHER_OPEN: "You have another assessment in progress: finish or restart it "
    "first.",
}

START_WORDS = ("start", "resume", "begin", "continue", "carry on", "go")


class AssessmentDialog:
    def __init__(self, ctx: FeatureContext) -> None:
        self.framework = ctx.framework
        self.zone = ctx.settings.zone
        self.comment_max_chars = ctx.settings.comment_max_chars
        self.clock = ctx.clock
        self.service = AssessmentService(ctx.db, ctx.framework, ctx.clock)

    # -- entry points ---------------------------------------------------------------------

    async def welcome(self, turn: Turn) -> Reply:
        snapshot = await self.service.current(turn.identity)
        in_progress = snapshot is not None and snapshot.status is domain.Status.IN_PROGRESS
        answered = len(snapshot.answers) if snapshot is not None and in_progress else 0
        view = WelcomeView(
            title=self.framework.title,
            question_count=self.framework.question_count,
            component_names=tuple(c.name for c in self.framework.components),
            in_progress=in_progress,
            answered=answered,
        )
        return Reply(send=[cards.welcome_card(view)])

    async def start_text(self, turn: Turn, _text: str) -> Reply:
        return await self.start(turn.identity)

    async def status_text(self, turn: Turn, _text: str) -> Reply:
        return await self.status(turn.identity)

    async def restart_text(self, turn: Turn, _text: str) -> Reply:
        return await self.confirm_restart(turn.identity)

    async def help_text(self, _turn: Turn, _text: str) -> Reply:
        return Reply(send=[cards.help_card(self.framework.question_count)])

    async def not_understood(self, _turn: Turn, text: str) -> Reply:
        note = NoticeView(f"Sorry, I didn't understand “{_shorten(text)}”. Here is what I can do.")
        return Reply(send=[cards.notice_card(note), cards.help_card(self.framework.question_count)])

    # -- card actions ---------------------------------------------------------------------

    async def on_start(self, turn: Turn, action: StartAction) -> Reply:
        return _acknowledge("Starting", await self.start(turn.identity, action.round))

    async def on_help(self, _turn: Turn, _action: HelpAction) -> Reply:
        return _acknowledge("Help", Reply(send=[cards.help_card(self.framework.question_count)]))

    async def on_role(self, turn: Turn, action: RoleAction) -> Reply:
        return await self.set_role(turn.identity, action.round, action.role)

    async def on_restart(self, turn: Turn, action: RestartAction) -> Reply:
        return await self.restart(turn.identity, action.aid, action.rev)

    async def on_reopen(self, turn: Turn, action: ReopenAction) -> Reply:
        return await self.reopen(turn.identity, action.aid)

    async def on_answer(self, turn: Turn, action: AnswerAction) -> Reply:
        if too_long := self._comment_too_long(action.comment):
            return await self.ask_again(turn.identity, action.aid, too_long)
        if action.level is None:
            return await self.ask_again(
                turn.identity, action.aid, "Choose a level (or tap Skip) before Next."
            )
        comment = clean_text(action.comment)
        command = domain.Answer(action.q, action.level, comment, action.rev)
        return await self._act(turn.identity, action.aid, command)

    async def on_skip(self, turn: Turn, action: SkipAction) -> Reply:
        return await self._act(turn.identity, action.aid, domain.Skip(action.q, action.rev))

    async def on_back(self, turn: Turn, action: BackAction) -> Reply:
        return await self._act(turn.identity, action.aid, domain.Back(action.q, action.rev))

    async def on_change(self, turn: Turn, action: ChangeAction) -> Reply:
        if action.change_q is None:
            return await self.ask_again(
                turn.identity,
                action.aid,
                "Choose the question you want to change, then Change answer.",
            )
        return await self._act(
            turn.identity, action.aid, domain.Change(action.change_q, action.rev)
        )

    async def on_submit(self, turn: Turn, action: SubmitAction) -> Reply:
        return await self._act(turn.identity, action.aid, domain.Submit(action.rev))

    def _comment_too_long(self, comment: str | None) -> str | None:
        if comment is None or len(comment) <= self.comment_max_chars:
            return None
        return (
            f"Your comment is {len(comment)} characters; the limit is {self.comment_max_chars}. "
            "Please shorten it and try again."
        )

    async def _act(self, identity: Identity, assessment_id: int, command: domain.Command) -> Reply:
        outcome = await self.service.act(identity, assessment_id, command)
        return self._reply_to(identity, command, outcome)

    # -- conversations --------------------------------------------------------------------

    async def start(self, identity: Identity, round_id: int | None = None) -> Reply:
        snapshot = await self.service.start_or_resume(identity, round_id)
        if snapshot.round_id is not None and not snapshot.answers:
            rid = snapshot.round_id
            name = await self.service.role_question(rid, snapshot.person_id)
            if name is not None:
                return Reply(send=[role_card(rid, name, ROLES)])
        return Reply(send=[self._screen_card(snapshot, identity)])

    async def set_role(self, identity: Identity, round_id: int, role: str | None) -> Reply:
        view = await self.service.participant(round_id, identity)
        if view is None:
            note = "That question isn't for you, so nothing was changed."
            return Reply(replace=cards.notice_card(NoticeView(f"ⓘ {note}")))
        if role is None or role not in ROLE_KEYS:
            note = "Choose one of the roles, or Prefer not to say. Nothing was changed."
            return Reply(replace=role_card(round_id, view.round_name, ROLES, notice=note))
        await self.service.set_role(round_id, view.person_id, role)
        settled = cards.notice_card(NoticeView(f"✓ Role: {role_label(role)}. Thank you."))
        return Reply(replace=settled, send=(await self.start(identity, round_id)).send)

    async def status(self, identity: Identity) -> Reply:
        snapshot = await self.service.current(identity)
        if snapshot is None:
            note = NoticeView("You haven't started the self-assessment yet.", (("start", "Start"),))
            return Reply(send=[cards.notice_card(note)])
        if snapshot.status is domain.Status.SUBMITTED:
            return Reply(send=[self._profile_card(snapshot, identity)])
        skipped = len(snapshot.answers) - snapshot.answered_count
        where = (
            "you are checking your answers"
            if snapshot.position > snapshot.question_count
            else f"you are on question {snapshot.position} of {snapshot.question_count}"
        )
        text = (
            f"You have answered {snapshot.answered_count} of {snapshot.question_count}"
            f"{f' and skipped {skipped}' if skipped else ''}; {where}."
        )
        return Reply(send=[cards.notice_card(NoticeView(text, (("start", "Resume"),)))])

    async def confirm_restart(self, identity: Identity) -> Reply:
        snapshot = await self.service.current(identity)
        if snapshot is None or snapshot.status is not domain.Status.IN_PROGRESS:
            return await self.start(identity)
        view = ConfirmRestartView(
            ActionRef(snapshot.assessment_id, snapshot.revision),
            answered=len(snapshot.answers),
            total=snapshot.question_count,
        )
        return Reply(send=[cards.confirm_restart_card(view)])

    async def reopen(self, identity: Identity, assessment_id: int) -> Reply:
        result = await self.service.reopen(identity, assessment_id)
        if isinstance(result, domain.Refused):
            note = REFUSAL_NOTES[result.reason]
            return Reply(replace=cards.notice_card(NoticeView(f"ⓘ {note}")))
        note = "Change any answer, then submit again. Until you do, your earlier answers count."
        settled = cards.notice_card(NoticeView("✓ Your submitted answers are still counted."))
        return Reply(replace=settled, send=[self._review_card(result, notice=note)])

    async def restart(self, identity: Identity, assessment_id: int, token: int) -> Reply:
        result = await self.service.restart(identity, assessment_id, token)
        if isinstance(result, domain.Refused):
            note = REFUSAL_NOTES[result.reason]
            current = await self.start(identity)
            settled = cards.notice_card(NoticeView(f"ⓘ {note}"))
            return Reply(replace=settled, send=current.send)
        settled = cards.notice_card(
            NoticeView("✓ Started again. Your earlier answers were set aside.")
        )
        return Reply(replace=settled, send=[self._screen_card(result, identity)])

    async def ask_again(self, identity: Identity, assessment_id: int, what: str) -> Reply:
        """A button pressed without the choice it needs: the same card again, with a note."""
        snapshot = await self.service.owned(identity, assessment_id)
        note = f"{what} Nothing was changed."
        if snapshot is None:
            return Reply(
                replace=cards.notice_card(
                    NoticeView(f"ⓘ {REFUSAL_NOTES[domain.Refusal.NOT_YOURS]}")
                )
            )
        return Reply(replace=self._screen_card(snapshot, identity, notice=note))

    # -- outcome → cards ------------------------------------------------------------------

    def _reply_to(self, identity: Identity, command: domain.Command, outcome: Outcome) -> Reply:
        result, snapshot = outcome.result, outcome.snapshot
        if isinstance(result, domain.Refused):
            return self._refused(identity, command, result, snapshot)
        assert snapshot is not None
        return Reply(
            replace=self._settled_card(snapshot, command, result),
            send=[self._screen_card(snapshot, identity)],
        )

    def _refused(
        self,
        identity: Identity,
        command: domain.Command,
        refusal: domain.Refused,
        snapshot: domain.Snapshot | None,
    ) -> Reply:
        note = REFUSAL_NOTES[refusal.reason]
        if snapshot is None or refusal.reason is domain.Refusal.NOT_YOURS:
            return Reply(replace=cards.notice_card(NoticeView(f"ⓘ {note}")))
        if refusal.reason is domain.Refusal.NOTHING_ANSWERED:
            return Reply(replace=self._review_card(snapshot, notice=note))
        question = refusal.question
        if question is not None and 1 <= question <= snapshot.question_count:
            status_line = (
                "Already saved"
                if refusal.reason is domain.Refusal.ALREADY_RECORDED
                else "No longer active"
            )
            settled = cards.settled_card(self._settled_view(snapshot, question, status_line))
        else:
            settled = cards.notice_card(NoticeView(f"ⓘ {note}"))
        return Reply(replace=settled, send=[self._screen_card(snapshot, identity, notice=note)])

    def _settled_card(
        self, snapshot: domain.Snapshot, command: domain.Command, decision: domain.Decision
    ) -> Card:
        answered = snapshot.answered_count
        total = snapshot.question_count
        match command:
            case domain.Submit():
                return cards.review_settled_card(total, answered, "Submitted")
            case domain.Change(question=q):
                return cards.review_settled_card(
                    total, answered, f"You chose to change question {q}"
                )
            case domain.Back(question=q) if q > total:
                return cards.review_settled_card(total, answered, "You went back to the questions")
        question = decision.settled_question
        assert question is not None
        status_line = {
            domain.Back: f"You went back to question {question - 1}",
            domain.Skip: "Skipped"
            if question not in snapshot.answers or snapshot.answers[question].skipped
            else "Kept",
        }.get(type(command), "Saved")
        return cards.settled_card(self._settled_view(snapshot, question, status_line))

    def _settled_view(
        self, snapshot: domain.Snapshot, number: int, status_line: str
    ) -> SettledView:
        question = self.framework.question(number)
        recorded = snapshot.answers.get(number)
        level = recorded.level if recorded else None
        return SettledView(
            component_name=self.framework.component_of(number).name,
            number=number,
            total=snapshot.question_count,
            title=question.title,
            level_name=self.framework.level(level).name if level else None,
            comment=recorded.comment if recorded else None,
            status_line=status_line,
        )

    def _screen_card(
        self, snapshot: domain.Snapshot, identity: Identity, notice: str | None = None
    ) -> Card:
        screen = domain.current_screen(snapshot)
        if screen.kind == "finished":
            return self._profile_card(snapshot, identity, notice=notice)
        if screen.kind == "review":
            return self._review_card(snapshot, notice=notice)
        assert screen.question is not None
        return cards.question_card(self._question_view(snapshot, screen.question, notice))

    def _question_view(
        self, snapshot: domain.Snapshot, number: int, notice: str | None
    ) -> QuestionView:
        question = self.framework.question(number)
        component = self.framework.component_of(number)
        recorded = snapshot.answers.get(number)
        return QuestionView(
            ref=ActionRef(snapshot.assessment_id, snapshot.revision),
            component_name=component.name,
            number=number,
            total=snapshot.question_count,
            title=question.title,
            levels=tuple(
                LevelChoice(level.value, level.name, descriptor.text)
                for level, descriptor in zip(self.framework.levels, question.levels, strict=True)
            ),
            practice=component.practice,
            selected_level=recorded.level if recorded else None,
            comment=recorded.comment if recorded else None,
            comment_max_chars=self.comment_max_chars,
            notice=notice,
        )

    def _review_card(self, snapshot: domain.Snapshot, notice: str | None = None) -> Card:
        sections = tuple(
            ReviewSection(
                component_name=component.name,
                rows=tuple(
                    ReviewRow(q.number, q.title, self._level_name(snapshot, q.number))
                    for q in component.questions
                ),
            )
            for component in self.framework.components
        )
        view = ReviewView(
            ref=ActionRef(snapshot.assessment_id, snapshot.revision),
            total=snapshot.question_count,
            answered=snapshot.answered_count,
            skipped=snapshot.question_count - snapshot.answered_count,
            sections=sections,
            notice=notice,
        )
        return cards.review_card(view)

    def _level_name(self, snapshot: domain.Snapshot, number: int) -> str | None:
        recorded = snapshot.answers.get(number)
        if recorded is None or recorded.level is None:
            return None
        return self.framework.level(recorded.level).name

    def _profile_card(
        self, snapshot: domain.Snapshot, identity: Identity, notice: str | None = None
    ) -> Card:
        levels = {number: answer.level for number, answer in snapshot.answers.items()}
        result = profile(self.framework, levels)

        def line(name: str, summary: LevelSummary) -> ProfileLine:
            return ProfileLine(name, summary.label(self.framework), summary.answered, summary.of)

        submitted = snapshot.submitted_at
        view = ProfileView(
            person_first_name=identity.name.split()[0] if identity.name.strip() else "",
            submitted_on=submitted.astimezone(self.zone).strftime("%-d %B %Y") if submitted else "",
            components=tuple(line(c.name, c.summary) for c in result.components),
            overall=line("Overall", result.overall),
            notice=notice,
            reopen=(
                ActionRef(snapshot.assessment_id, snapshot.revision)
                if snapshot.round_id is not None and snapshot.status is domain.Status.SUBMITTED
                else None
            ),
        )
        return cards.profile_card(view)


def _acknowledge(label: str, reply: Reply) -> Reply:
    """Buttons on cards that hold no state (welcome, help, notices) settle to a one-line card."""
    reply.replace = cards.notice_card(NoticeView(f"✓ {label}"))
    return reply


def _shorten(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
