"""The self-assessment conversation: turns a validated card action or a text command into a
call of the assessment service and the outcome into cards. Its commands and verbs are declared
in impact/features/assessment.py; the transitions, in the manner of a ConversationHandler:

    verb / command          service call                  reply
    start | resume          start_or_resume               current screen's card
    choose (a level)        choose (records nothing)      the same card, that level chosen
    answer | skip | back    act → assessment.rules        used card settles; next screen
    change | submit         act → assessment.rules        review settles; question / profile
    restart (text)          (none)                        confirmation card
    restart (button)        restart                       question 1
    carry_on                current                       current screen's card
    status                  current                       progress, or the profile
    stop | pause | later    current                       one line and Resume
    help / thanks / other   current                       help card / a short reply / buttons

One live card. Every question or review card is posted through `_post`, which records it as
the person's live card and updates the one it replaces in place ("continued below"). A press on
any other card records nothing and gets the current card with a note.

Refusals (stale card, double tap, someone else's assessment, already submitted) and card data
no model accepts (`recover`) change nothing: the person is left on their current card, live,
with a one-line note, and the level and comment they had on it are kept.
"""

# One module over 500 lines, on purpose: it is one class whose methods are the handlers the
# feature declaration binds (impact/features/assessment.py: `D.start_text`, ...), and they share the
# live-card and refusal helpers below them; splitting the class would scatter one conversation.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assessment import rules as domain
from assessment.service import AssessmentService
from bot.actions.assessment import (
    AnswerAction,
    BackAction,
    CarryOnAction,
    ChangeAction,
    ChooseAction,
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
from bot.cards.assessment_views import ActionRef, ConfirmRestartView, NoticeView, WelcomeView
from bot.cards.common import Card, escape_markdown
from bot.cards.rounds.invitation import role_card
from bot.dialogs.assessment_screens import Kept, Screens
from bot.registry import CardUpdate, FeatureContext, Reply, Turn
from framework.reading import reading_minutes
from rounds.rules.roles import ROLE_KEYS, ROLES, role_label
from store.assessments.live_cards import ShownCard

REFUSAL_NOTES = {
    domain.Refusal.STALE: "That card is out of date, so nothing was changed. "
    "Here is where you are now.",
    domain.Refusal.ALREADY_RECORDED: "That answer was already saved. Here is where you are now.",
    domain.Refusal.NOT_YOURS: "That card is not part of your assessment, so nothing was changed.",
    domain.Refusal.CLOSED: "That assessment has already been submitted, so it can't be changed.",
    domain.Refusal.OUT_OF_RANGE: "That card asked for a question or level that doesn't exist, "
    "so nothing was changed.",
    domain.Refusal.NOTHING_ANSWERED: "Answer at least one question before you submit.",
    domain.Refusal.MOSTLY_SKIPPED: "You skipped {skipped} of {total} questions: a component with "
    "fewer than half answered shows “Not enough answers”. Submit anyway, or change some first.",
    domain.Refusal.ROUND_CLOSED: "That round has closed, so the answers can't be changed now.",
    domain.Refusal.ROUND_OVER: "That round has closed, so nothing more can be answered or "
    "submitted for it: nothing was changed, and its results stay as they were at the close. "
    "Type restart to begin a self-assessment of your own.",
    domain.Refusal.OTHER_OPEN: "You have another assessment in progress: finish or restart it "
    "first.",
}
# Refusals about another assessment than the person's current one: shown on their own.
ABOUT_ANOTHER = {domain.Refusal.NOT_YOURS, domain.Refusal.CLOSED}

# Verbs that carry an assessment id and revision: their handlers compare them with the live
# card and keep it live themselves. Any other verb sent from the live card (it has no such
# button: forged) is answered with the card itself and a note (holds_card).
REVISION_CHECKED_VERBS = frozenset(
    {"choose", "answer", "skip", "back", "change", "submit", "restart", "reopen"}
)
START_WORDS = ("start", "resume", "begin", "continue", "carry on", "go")
PAUSE_WORDS = ("stop", "pause", "later", "not now", "stop for now", "pause for now", "bye")
THANKS_WORDS = ("thanks", "thank you", "thankyou", "thanks a lot", "many thanks", "cheers", "ta")
START, RESUME, HELP = ("start", "Start"), ("start", "Resume"), ("help", "Help")


class AssessmentDialog:
    def __init__(self, ctx: FeatureContext) -> None:
        self.framework = ctx.framework
        self.comment_max_chars = ctx.settings.comment_max_chars
        self.service = AssessmentService(ctx.db, ctx.framework, ctx.clock)
        self.screens = Screens(ctx.framework, ctx.settings.zone, ctx.settings.comment_max_chars)
        self.minutes = reading_minutes(ctx.framework)

    # -- text -----------------------------------------------------------------------------

    async def welcome(self, turn: Turn) -> Reply:
        snapshot = await self.service.current(turn.identity)
        in_progress = snapshot is not None and snapshot.status is domain.Status.IN_PROGRESS
        view = WelcomeView(
            title=self.framework.title,
            question_count=self.framework.question_count,
            component_names=tuple(c.name for c in self.framework.components),
            minutes=self.minutes,
            answered=snapshot.answered_count if snapshot is not None and in_progress else 0,
        )
        return Reply(send=[cards.welcome_card(view)])

    async def start_text(self, turn: Turn, _text: str) -> Reply:
        reply, _snapshot = await self.start(turn)
        return reply

    async def status_text(self, turn: Turn, _text: str) -> Reply:
        return await self.status(turn)

    async def restart_text(self, turn: Turn, _text: str) -> Reply:
        return await self.confirm_restart(turn)

    async def help_text(self, turn: Turn, _text: str) -> Reply:
        return Reply(send=[await self._help(turn)])

    async def pause_text(self, turn: Turn, _text: str) -> Reply:
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            note = NoticeView("All right. Type start whenever you are ready.", (START,))
        elif snapshot.status is domain.Status.SUBMITTED:
            note = NoticeView("All right. Your answers are submitted: there is nothing to pause.")
        else:
            note = NoticeView(
                "Paused. Your answers so far are saved: tap Resume when you are ready.", (RESUME,)
            )
        return Reply(send=[cards.notice_card(note)])

    async def thanks_text(self, _turn: Turn, _text: str) -> Reply:
        return Reply(send=[cards.notice_card(NoticeView("You're welcome."))])

    async def not_understood(self, turn: Turn, text: str) -> Reply:
        """One short message with the most likely buttons, not the whole help card."""
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            buttons: tuple[tuple[str, str], ...] = (START, HELP)
        elif snapshot.status is domain.Status.IN_PROGRESS:
            buttons = (RESUME, HELP)
        else:
            buttons = (HELP,)
        note = NoticeView(f"Sorry, I didn't understand “{_shorten(text)}”.", buttons)
        return Reply(send=[cards.notice_card(note)])

    # -- buttons on cards that hold no state ----------------------------------------------

    async def on_start(self, turn: Turn, action: StartAction) -> Reply:
        reply, snapshot = await self.start(turn, action.round)
        if snapshot.status is domain.Status.SUBMITTED:
            return _acknowledge("✓ You have already submitted: your profile is below.", reply)
        if snapshot.answers:
            return _acknowledge("✓ Carrying on where you left off.", reply)
        return _acknowledge("✓ Starting.", reply)

    async def on_carry_on(self, turn: Turn, _action: CarryOnAction) -> Reply:
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            reply, _snapshot = await self.start(turn)
            return _acknowledge("✓ Starting.", reply)
        if snapshot.status is not domain.Status.IN_PROGRESS:
            return _acknowledge("✓ Nothing was changed.", Reply())
        return _acknowledge("✓ Carrying on.", await self._post_screen(turn, snapshot))

    async def on_help(self, turn: Turn, _action: HelpAction) -> Reply:
        return _acknowledge("✓ Help is below.", Reply(send=[await self._help(turn)]))

    async def on_role(self, turn: Turn, action: RoleAction) -> Reply:
        view = await self.service.participant(action.round, turn.identity)
        if view is None:
            note = "That question isn't for you, so nothing was changed."
            return Reply(replace=cards.notice_card(NoticeView(f"ⓘ {note}")))
        if action.role is None or action.role not in ROLE_KEYS:
            note = "Choose one of the roles, or Prefer not to say. Nothing was changed."
            return Reply(replace=role_card(action.round, view.round_name, ROLES, notice=note))
        if not await self.service.set_role(action.round, view.person_id, action.role):
            name = escape_markdown(view.round_name)
            note = f"ⓘ {name} has closed, so your role can't be changed now. Nothing was changed."
            return Reply(replace=cards.notice_card(NoticeView(note, (START, HELP))))
        reply, _snapshot = await self.start(turn, action.round)
        return _acknowledge(f"✓ Role: {role_label(action.role)}. Thank you.", reply)

    # -- buttons on the assessment's own cards --------------------------------------------

    async def on_choose(self, turn: Turn, action: ChooseAction) -> Reply:
        comment, cut = self._within_limit(action.comment)
        kept = Kept(action.level, comment)
        choice = domain.Choose(action.q, action.level, action.rev)
        refusal, snapshot = await self.service.choose(
            turn.identity, action.aid, choice, turn.card_id
        )
        if refusal is not None:
            return await self._refused(turn, refusal, snapshot, action.q, kept)
        assert snapshot is not None
        return Reply(replace=self.screens.question(snapshot, action.q, cut, kept))

    async def on_answer(self, turn: Turn, action: AnswerAction) -> Reply:
        comment, cut = self._within_limit(action.comment)
        kept = Kept(action.level, comment)
        if cut:
            return await self._ask_again(
                turn, action.aid, action.q, f"{cut} Check it, then Next.", kept
            )
        if action.level is None:
            what = "Choose a level (or tap Skip) before Next."
            return await self._ask_again(turn, action.aid, action.q, what, kept)
        command = domain.ChooseLevel(action.q, action.level, comment, action.rev)
        return await self._act(turn, action.aid, command, kept)

    async def on_skip(self, turn: Turn, action: SkipAction) -> Reply:
        return await self._act(turn, action.aid, domain.Skip(action.q, action.rev))

    async def on_back(self, turn: Turn, action: BackAction) -> Reply:
        return await self._act(turn, action.aid, domain.Back(action.q, action.rev))

    async def on_change(self, turn: Turn, action: ChangeAction) -> Reply:
        if action.change_q is None:
            what = "Choose the question you want to change, then Change answer."
            return await self._ask_again(turn, action.aid, self.framework.question_count + 1, what)
        return await self._act(turn, action.aid, domain.Change(action.change_q, action.rev))

    async def on_submit(self, turn: Turn, action: SubmitAction) -> Reply:
        return await self._act(turn, action.aid, domain.Submit(action.rev, action.confirm))

    async def on_restart(self, turn: Turn, action: RestartAction) -> Reply:
        result = await self.service.restart(turn.identity, action.aid, action.rev)
        if not isinstance(result, domain.Refused):
            done = "✓ Started again. Your earlier answers were set aside."
            return _acknowledge(done, await self._post_screen(turn, result))
        owned = await self.service.owned(turn.identity, action.aid)
        submitted = owned is not None and owned.status is domain.Status.SUBMITTED
        if result.reason is domain.Refusal.CLOSED and submitted:  # after a submit: a new one
            reply, _snapshot = await self.start(turn)
            done = "✓ Started a new self-assessment. Your submitted answers stay as they are."
            return _acknowledge(done, reply)
        return await self._refused(turn, result, owned, None)

    async def on_reopen(self, turn: Turn, action: ReopenAction) -> Reply:
        result = await self.service.reopen(turn.identity, action.aid)
        if isinstance(result, domain.Refused):
            owned = await self.service.owned(turn.identity, action.aid)
            if owned is None or result.reason is domain.Refusal.OTHER_OPEN:
                return await self._refused(turn, result, None, None)
            # the profile it was pressed on, again, saying why
            note = REFUSAL_NOTES[result.reason]
            return Reply(replace=await self._screen_card(owned, turn, note))
        note = "Change any answer, then submit again. Until you do, your earlier answers count."
        reply = await self._post_screen(turn, result, notice=note)
        return _acknowledge("✓ Your submitted answers are still counted.", reply)

    # -- card data no verb accepts --------------------------------------------------------

    async def recover(self, turn: Turn, raw: Mapping[str, Any], problem: str) -> Reply | None:
        """Forged or malformed card data: the person's own current card (found from who they
        are, never from ids in the data), with the note and what they had typed on it."""
        if turn.scope != "personal":
            return None
        comment, cut = self._within_limit(raw.get("comment"))
        note = f"Sorry, {problem}. Nothing was changed." + (f" {cut}" if cut else "")
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            return _answer(turn, cards.notice_card(NoticeView(f"ⓘ {note}", (START, HELP))))
        question, level = _small_int(raw.get("q")), _small_int(raw.get("level"))
        kept = Kept(level if level in range(1, 6) else None, comment)
        pressed = self.screens.pressed_out_of_date(None, None, already_saved=False)
        return await self._show_current(
            turn, snapshot, notice=note, pressed=pressed, kept=kept, question=question
        )

    async def holds_card(self, turn: Turn, verb: str) -> bool:
        """Whether the pressed card is this person's live question (or review) card and `verb`
        is not one that checks the card itself."""
        if not turn.card_id or turn.scope != "personal" or verb in REVISION_CHECKED_VERBS:
            return False
        snapshot = await self.service.current(turn.identity)
        return snapshot is not None and await self._pressed_is_live(turn, snapshot)

    # -- conversations --------------------------------------------------------------------

    async def start(self, turn: Turn, round_id: int | None = None) -> tuple[Reply, domain.Snapshot]:
        snapshot = await self.service.start_or_resume(turn.identity, round_id)
        if snapshot.round_id is not None and not snapshot.answers:
            rid = snapshot.round_id
            name = await self.service.role_question(rid, snapshot.person_id)
            if name is not None:
                return Reply(send=[role_card(rid, name, ROLES)]), snapshot
        return await self._post_screen(turn, snapshot), snapshot

    async def status(self, turn: Turn) -> Reply:
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            note = NoticeView("You haven't started the self-assessment yet.", (START,))
            return Reply(send=[cards.notice_card(note)])
        if snapshot.status is domain.Status.SUBMITTED:
            return Reply(send=[await self._screen_card(snapshot, turn)])
        skipped = len(snapshot.answers) - snapshot.answered_count
        where = (
            "you are checking your answers"
            if snapshot.position > snapshot.question_count
            else f"you are on question {snapshot.position} of {snapshot.question_count}"
        )
        done = (
            f"You have answered {snapshot.answered_count} of {snapshot.question_count}"
            f"{f' and skipped {skipped}' if skipped else ''}"
            if snapshot.answers
            else "You haven't answered any questions yet"
        )
        return Reply(send=[cards.notice_card(NoticeView(f"{done}; {where}.", (RESUME,)))])

    async def confirm_restart(self, turn: Turn) -> Reply:
        snapshot = await self.service.current(turn.identity)
        if snapshot is None:
            reply, _snapshot = await self.start(turn)
            return reply
        view = ConfirmRestartView(
            ActionRef(snapshot.assessment_id, snapshot.revision),
            answered=snapshot.answered_count,
            total=snapshot.question_count,
            submitted=snapshot.status is domain.Status.SUBMITTED,
        )
        return Reply(send=[cards.confirm_restart_card(view)])

    async def _act(
        self, turn: Turn, assessment_id: int, command: domain.Command, kept: Kept | None = None
    ) -> Reply:
        outcome = await self.service.act(turn.identity, assessment_id, command, turn.card_id)
        result, snapshot = outcome.result, outcome.snapshot
        if isinstance(result, domain.Refused):
            question = getattr(command, "question", None)
            return await self._refused(turn, result, snapshot, question, kept)
        assert snapshot is not None
        settled = self.screens.settled_after(command, snapshot)
        return await self._post_screen(turn, snapshot, replace=settled)

    async def _ask_again(
        self, turn: Turn, assessment_id: int, question: int, what: str, kept: Kept | None = None
    ) -> Reply:
        """A button pressed without what it needs: the person's card again, with a note."""
        snapshot = await self.service.owned(turn.identity, assessment_id)
        if snapshot is None:
            return await self._refused(
                turn, domain.Refused(domain.Refusal.NOT_YOURS), None, question, kept
            )
        if snapshot.status is not domain.Status.IN_PROGRESS:
            return await self._refused(turn, domain.Refused(domain.Refusal.CLOSED), None, question)
        note = f"{what} Nothing was changed."
        pressed = self.screens.pressed_out_of_date(snapshot, question, already_saved=False)
        return await self._show_current(
            turn, snapshot, notice=note, pressed=pressed, kept=kept, question=question
        )

    async def _refused(
        self,
        turn: Turn,
        refusal: domain.Refused,
        snapshot: domain.Snapshot | None,
        question: int | None,
        kept: Kept | None = None,
    ) -> Reply:
        """Nothing recorded: the person's current card, with why, and what they had on it."""
        reason = refusal.reason
        own = snapshot is not None and reason not in ABOUT_ANOTHER
        if not own:
            snapshot = await self.service.current(turn.identity)  # from who they are alone
        if snapshot is None:
            note = f"ⓘ {REFUSAL_NOTES[reason]}"
            return _answer(turn, cards.notice_card(NoticeView(note, (START, HELP))))
        note = REFUSAL_NOTES[reason].format(
            skipped=snapshot.skipped_count, total=snapshot.question_count
        )
        pressed = self.screens.pressed_out_of_date(
            snapshot if own else None,
            question,
            already_saved=reason is domain.Refusal.ALREADY_RECORDED,
        )
        confirm = reason is domain.Refusal.MOSTLY_SKIPPED
        return await self._show_current(
            turn, snapshot, notice=note, pressed=pressed, kept=kept, question=question,
            confirm=confirm,
        )  # fmt: skip

    # -- the one live card ----------------------------------------------------------------

    async def _show_current(
        self,
        turn: Turn,
        snapshot: domain.Snapshot,
        *,
        notice: str,
        pressed: Card,
        kept: Kept | None = None,
        question: int | None = None,
        confirm: bool = False,
    ) -> Reply:
        """The current card with a note: in place of the pressed card if that is the live card
        (it stays live, with the level and comment the person had on it), else posted below,
        the pressed card settling (what they had kept only if it was about the same question)."""
        if await self._pressed_is_live(turn, snapshot):
            card = await self._screen_card(snapshot, turn, notice, kept, confirm=confirm)
            return Reply(replace=card)
        kept = kept if question in (None, snapshot.position) else None
        card = await self._screen_card(snapshot, turn, notice, kept, confirm=confirm)
        return self._post(turn, snapshot, card, replace=pressed)

    async def _pressed_is_live(self, turn: Turn, snapshot: domain.Snapshot) -> bool:
        if not turn.card_id or snapshot.status is not domain.Status.IN_PROGRESS:
            return False
        live = await self.service.live_card(snapshot.person_id)
        return live == ShownCard(turn.card_id, snapshot.assessment_id, snapshot.position)

    async def _post_screen(
        self,
        turn: Turn,
        snapshot: domain.Snapshot,
        *,
        notice: str | None = None,
        replace: Card | None = None,
    ) -> Reply:
        card = await self._screen_card(snapshot, turn, notice)
        return self._post(turn, snapshot, card, replace=replace)

    def _post(
        self, turn: Turn, snapshot: domain.Snapshot, card: Card, *, replace: Card | None = None
    ) -> Reply:
        """Send the current screen's card as a new message. A question or the review becomes
        the person's live card (the profile leaves them none); the card it replaces, unless it
        is the one pressed (which `replace` settles), says it is continued below."""
        live = snapshot.status is domain.Status.IN_PROGRESS

        async def posted(activity_id: str) -> list[CardUpdate]:
            shown = ShownCard(activity_id, snapshot.assessment_id, snapshot.position)
            previous = await self.service.swap_live_card(
                snapshot.person_id, shown if live else None
            )
            if previous is None or previous.activity_id in (activity_id, turn.card_id):
                return []
            return [CardUpdate(previous.activity_id, self.screens.continued(previous, snapshot))]

        return Reply(replace=replace, send=[card], posted=posted)

    async def _screen_card(
        self,
        snapshot: domain.Snapshot,
        turn: Turn,
        notice: str | None = None,
        kept: Kept | None = None,
        *,
        confirm: bool = False,
    ) -> Card:
        screen = domain.current_screen(snapshot)
        if screen.kind == "finished":
            rid = snapshot.round_id
            timing = await self.service.round_timing(rid) if rid is not None else None
            return self.screens.profile(snapshot, turn.identity, notice, timing)
        if screen.kind == "review":
            return self.screens.review(snapshot, notice, confirm=confirm)
        assert screen.question is not None
        return self.screens.question(snapshot, screen.question, notice, kept)

    # -- helpers --------------------------------------------------------------------------

    async def _help(self, turn: Turn) -> Card:
        snapshot = await self.service.current(turn.identity)
        in_progress = snapshot is not None and snapshot.status is domain.Status.IN_PROGRESS
        return cards.help_card(self.framework.question_count, in_progress=in_progress)

    def _within_limit(self, comment: object) -> tuple[str | None, str | None]:
        """A comment as stored (plain text), cut to the limit; and a note if it was cut."""
        text = clean_text(comment) if isinstance(comment, str) else None
        if text is None or len(text) <= self.comment_max_chars:
            return text, None
        limit = self.comment_max_chars
        return text[:limit], f"Your comment was cut to {limit:,} characters, the limit."


def _acknowledge(words: str, reply: Reply) -> Reply:
    """The pressed card (a welcome, help, notice or question about restarting) settles to one
    line saying what happened."""
    reply.replace = cards.notice_card(NoticeView(words))
    return reply


def _answer(turn: Turn, card: Card) -> Reply:
    """A card in answer to a press (in place of the pressed card) or to typed text."""
    return Reply(replace=card) if turn.invoked or turn.card_id else Reply(send=[card])


def _small_int(value: object) -> int | None:
    """A number from card data, if it is one (cards send "3" or 3; anything else is None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 6:
        return int(value)
    return None


def _shorten(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
