"""A participant's choices about a round's reminders, in the personal chat and on the
invitation: `reminders …`, `away until …`, the Reminder times form, Remind me later and Stop
reminding me (rounds.services.participation does the work)."""

from __future__ import annotations

from bot.actions.rounds import OptOutAction, ReminderTimesAction, SnoozeAction
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.registry import FeatureContext, Reply, Turn
from rounds.services.participation import Participation, RoundChoice


class RoundParticipation:
    def __init__(self, ctx: FeatureContext) -> None:
        self.service = Participation(ctx.db, ctx.settings.zone, ctx.clock)

    async def reminders(self, turn: Turn, text: str) -> Reply:
        message = await self.service.reminders_command(turn.identity, text)
        return Reply(send=[cards.notice_card(NoticeView(message))])

    async def on_reminder_times(self, turn: Turn, action: ReminderTimesAction) -> Reply:
        message = await self.service.reminders_form(
            turn.identity,
            action.remind_days or "",
            action.remind_from or "",
            action.remind_to or "",
        )
        return Reply(send=[cards.notice_card(NoticeView(message))])

    async def on_snooze(self, turn: Turn, action: SnoozeAction) -> Reply:
        return _settled(await self.service.snooze(turn.identity, action.round), action.round)

    async def on_opt_out(self, turn: Turn, action: OptOutAction) -> Reply:
        return _settled(await self.service.opt_out(turn.identity, action.round), action.round)


def _settled(choice: RoundChoice, round_id: int) -> Reply:
    """The invitation settles to what happened; while the round is open it still offers Start."""
    if not choice.applied:
        return Reply(replace=cards.notice_card(NoticeView(f"ⓘ {choice.message}")))
    buttons = (("start", "Start"),)
    return Reply(replace=cards.round_notice_card(choice.message, round_id, buttons))
