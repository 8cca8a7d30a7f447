"""The huddle in its channel: the prompt card's buttons (I'm here, add an idea, action or
escalation, update an item, held or not), `ideas` and `actions`, and an owner's Done on a nudge.

A capture that changed something replaces the card for everyone (the invoke's answer and an
update of the message, or the Action.Submit fallback's update). A refusal leaves the person on
the live card with a one-line note, and what they typed filled back in; with the Submit
fallback, where an update would show the note to everyone, the note comes as a reply instead.
"""

from __future__ import annotations

from bot.actions.huddles import (
    HuddleActionItemAction,
    HuddleEscalationAction,
    HuddleHeldAction,
    HuddleHereAction,
    HuddleIdeaAction,
    HuddleItemAction,
    HuddleNotHeldAction,
)
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.cards.common import Card
from bot.cards.huddles.boards import item_list_card
from bot.cards.huddles.prompt import prompt_card
from bot.dialogs.huddles.wiring import huddle_services
from bot.registry import FeatureContext, Reply, Turn
from huddles.rules.digest import HuddleStatus
from huddles.rules.items import ItemKind
from huddles.rules.views import Draft, ItemListView
from huddles.services import board
from huddles.services.capture import NO_ROSTER, NOT_IN_TEAM, Captured
from store.teams import Team, installed_team

IN_A_CHANNEL = "Type that in your team's channel, where its huddles are."
NOT_INSTALLED = "Add me to this team first (Apps, then Add to a team), then try again."
LISTS = {
    "ideas": ("Open ideas", "No open ideas. Add one from the huddle card."),
    "actions": ("Open actions", "No open actions."),
}


def _note(message: str) -> Card:
    return cards.notice_card(NoticeView(message if message.startswith("✓") else f"ⓘ {message}"))


def _answer(turn: Turn, captured: Captured) -> Reply:
    if captured.view is None:
        note = _note(captured.note)
        return Reply(replace=note) if turn.invoked else Reply(send=[note])
    card = prompt_card(captured.view)
    if captured.changed:
        return Reply(replace=card, everyone=True)
    return Reply(replace=card) if turn.invoked else Reply(send=[_note(captured.note)])


class HuddleBoard:
    def __init__(self, ctx: FeatureContext) -> None:
        self.db = ctx.db
        self.clock = ctx.clock
        self.services = huddle_services(ctx)

    # -- the prompt card ----------------------------------------------------------------------

    async def on_here(self, turn: Turn, action: HuddleHereAction) -> Reply:
        capture = self.services.capture
        return _answer(turn, await capture.here(turn.identity, action.huddle, turn.team_id))

    async def on_idea(self, turn: Turn, action: HuddleIdeaAction) -> Reply:
        draft = Draft(kind=ItemKind.IDEA.value, text=action.idea_text or "")
        return await self._add(turn, action.huddle, draft)

    async def on_action(self, turn: Turn, action: HuddleActionItemAction) -> Reply:
        draft = Draft(
            kind=ItemKind.ACTION.value,
            text=action.action_text or "",
            owner=action.action_owner or "",
            due=action.action_due or "",
        )
        return await self._add(turn, action.huddle, draft)

    async def on_escalation(self, turn: Turn, action: HuddleEscalationAction) -> Reply:
        draft = Draft(kind=ItemKind.ESCALATION.value, text=action.escalation_text or "")
        return await self._add(turn, action.huddle, draft)

    async def _add(self, turn: Turn, huddle_id: int, draft: Draft) -> Reply:
        captured = await self.services.capture.add(turn.identity, huddle_id, turn.team_id, draft)
        return _answer(turn, captured)

    async def on_held(self, turn: Turn, action: HuddleHeldAction) -> Reply:
        return await self._outcome(turn, action.huddle, HuddleStatus.HELD, action.outcome_note)

    async def on_not_held(self, turn: Turn, action: HuddleNotHeldAction) -> Reply:
        note = action.outcome_note
        return await self._outcome(turn, action.huddle, HuddleStatus.NOT_HELD, note)

    async def _outcome(
        self, turn: Turn, huddle_id: int, status: HuddleStatus, note: str | None
    ) -> Reply:
        capture = self.services.capture
        captured = await capture.outcome(turn.identity, huddle_id, turn.team_id, status, note or "")
        return _answer(turn, captured)

    async def on_item(self, turn: Turn, action: HuddleItemAction) -> Reply:
        """Update an item: from the prompt card, a list card, or an owner's nudge."""
        ref, change, note = action.item or "", action.change or "", action.change_note or ""
        if action.huddle is not None:
            captured = await self.services.capture.change(
                turn.identity, action.huddle, turn.team_id, ref, change, note
            )
            return _answer(turn, captured)
        result = await self.services.changes.apply(turn.identity, ref, change, note)
        if action.list is None or turn.team_id is None:  # the owner's nudge, in the 1:1 chat
            return Reply(replace=_note(result.note)) if turn.invoked else _send(result.note)
        listing = await self._list(turn, action.list, result.note)
        if result.changed:
            return Reply(replace=listing, everyone=True)
        return Reply(replace=listing) if turn.invoked else _send(result.note)

    # -- ideas and actions ------------------------------------------------------------------

    async def show_ideas(self, turn: Turn, _text: str) -> Reply:
        return await self._show(turn, "ideas")

    async def show_actions(self, turn: Turn, _text: str) -> Reply:
        return await self._show(turn, "actions")

    async def _show(self, turn: Turn, kind: str) -> Reply:
        if turn.scope != "channel" or turn.team_id is None:
            return _send(IN_A_CHANNEL)
        return Reply(send=[await self._list(turn, kind)])

    async def _list(self, turn: Turn, kind: str, notice: str | None = None) -> Card:
        team_id = turn.team_id or ""
        team = await self.db.run(lambda s: installed_team(s, team_id))
        if team is None:
            return _note(NOT_INSTALLED)
        try:
            member = await self.services.access.member(turn.identity, team)
        except Exception:
            return _note(NO_ROSTER)
        if member is None:
            return _note(NOT_IN_TEAM.format(team=team.name or "the team"))
        return item_list_card(await self._list_view(team, kind, notice))

    async def _list_view(self, team: Team, kind: str, notice: str | None) -> ItemListView:
        assert team.id is not None
        team_db_id, today = team.id, self.clock().astimezone(self.services.options.zone).date()
        if kind == "ideas":
            items = await self.db.run(lambda s: board.open_ideas(s, team_db_id))
        else:
            items = await self.db.run(lambda s: board.open_actions(s, team_db_id, today))
        title, empty = LISTS[kind]
        return ItemListView(team.name, title, tuple(items), kind, empty, notice)


def _send(message: str) -> Reply:
    return Reply(send=[_note(message)])
