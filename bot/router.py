"""The Teams activity handler: who is this, where, and which registered handler takes it.

It holds no conversation logic and names no feature. `Dispatch` is built once from every
feature's declarations (bot.registry): text commands by their words or matchers, card verbs by
their models (one discriminated union validates every card's data). The handler's `Reply` goes
out through bot.replies.

Card data that no model accepts (forged, malformed, oversized) reaches no handler: the feature
that owns the verb, or for an unknown verb each feature in turn, is asked to recover (put the
person back on their live card with a one-line note, keeping what they typed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema.teams import TeamsChannelAccount

from bot import replies
from bot.actions.base import CardAction, InvalidAction, VerbTable, unwrap_invoke
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.identity import bot_among, display_name, identity_of, tenant_of, turn_of
from bot.mentions import text_without_bot_mention
from bot.registry import CardVerb, Reply, Scope, TextCommand, Turn, normalise_text
from framework.identity import Identity
from store.db import Database
from store.people import ensure_person, save_reference
from store.teams import TeamInstall, record_install, record_removal, record_rename
from store.types import utcnow

log = logging.getLogger(__name__)

ADAPTIVE_CARD_ACTION = "adaptiveCard/action"

BoundText = Callable[[Turn, str], Awaitable[Reply]]
BoundVerb = Callable[[Turn, Any], Awaitable[Reply]]
BoundRecover = Callable[[Turn, Mapping[str, Any], str], Awaitable[Reply | None]]
BoundHolds = Callable[[Turn, str], Awaitable[bool]]

# Individual answers never appear where others can see them.
PERSONAL_ONLY_CARD = cards.notice_card(
    NoticeView(
        "I run the self-assessment privately, in a 1:1 chat. Open a chat with me "
        "(select my name, then Chat) and type start."
    )
)


@dataclass(frozen=True)
class _Command:
    handle: BoundText
    scopes: frozenset[Scope]


@dataclass(frozen=True)
class _Verb:
    handle: BoundVerb
    scopes: frozenset[Scope]


class Dispatch:
    """Every feature's text commands and card verbs, bound to their dialogs."""

    def __init__(self) -> None:
        self._words: dict[str, _Command] = {}
        self._matchers: list[tuple[Callable[[str], bool], _Command]] = []
        self._verbs: dict[type[CardAction], _Verb] = {}
        self._fallback: BoundText | None = None
        self._welcome: Callable[[Turn], Awaitable[Reply]] | None = None
        self._table: VerbTable | None = None
        self._recoveries: list[BoundRecover] = []
        self._recovery_of_verb: dict[str, BoundRecover | None] = {}
        self._keepers: list[tuple[BoundHolds, BoundRecover]] = []

    def add_commands(self, dialog: object, commands: Iterable[TextCommand[Any]]) -> None:
        for command in commands:
            bound = _Command(_bind(dialog, command.handle), command.scopes)
            for word in command.words:
                if word in self._words:
                    raise ValueError(f"the command {word!r} is registered twice")
                self._words[word] = bound
            if command.matches is not None:
                self._matchers.append((command.matches, bound))

    def add_verbs(self, dialog: object, verbs: Iterable[CardVerb[Any, Any]]) -> None:
        for verb in verbs:
            if verb.model in self._verbs or verb.verb in self.verb_names():
                raise ValueError(f"the card verb {verb.verb!r} is registered twice")
            self._verbs[verb.model] = _Verb(_bind(dialog, verb.handle), verb.scopes)
        self._table = None

    def set_fallback(self, handle: BoundText) -> None:
        if self._fallback is not None:
            raise ValueError("only one feature may answer what nobody else understands")
        self._fallback = handle

    def set_welcome(self, handle: Callable[[Turn], Awaitable[Reply]]) -> None:
        if self._welcome is not None:
            raise ValueError("only one feature may welcome people")
        self._welcome = handle

    def add_recovery(self, handle: BoundRecover | None, verbs: Iterable[str]) -> None:
        """A feature's way back to a live card (None: it has none) for bad data sent with one of
        its verbs; a feature with one is also asked about data with no known verb."""
        for verb in verbs:
            self._recovery_of_verb[verb] = handle
        if handle is not None:
            self._recoveries.append(handle)

    def add_keeper(self, holds: BoundHolds, recover: BoundRecover) -> None:
        """A feature that keeps a card live for each person (`holds`: is the pressed card it,
        and the verb not one of its buttons?): such a press is answered by its `recover`."""
        self._keepers.append((holds, recover))

    async def keep_card(self, turn: Turn, payload: Any, problem: str) -> Reply | None:
        """The keeper's live card with a note, if the data was sent from a card a feature keeps
        live and its verb is not one of that card's buttons (forged); None otherwise."""
        if not turn.card_id:
            return None
        raw: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
        verb = raw.get("verb")
        for holds, recover in self._keepers:
            if await holds(turn, verb if isinstance(verb, str) else ""):
                return await recover(turn, raw, problem)
        return None

    def verb_names(self) -> set[str]:
        return {model.verb_name() for model in self._verbs}

    def parse(self, payload: Any) -> CardAction:
        if self._table is None:
            self._table = VerbTable(self._verbs)
        return self._table.parse(payload)

    def verb_for(self, action: CardAction) -> _Verb:
        return self._verbs[type(action)]

    def command_for(self, text: str) -> _Command | None:
        normalised = normalise_text(text)
        if found := self._words.get(normalised):
            return found
        for matches, command in self._matchers:
            if matches(text):
                return command
        return None

    async def welcome(self, turn: Turn) -> Reply:
        return await self._welcome(turn) if self._welcome else Reply()

    async def fallback(self, turn: Turn, text: str) -> Reply:
        return await self._fallback(turn, text) if self._fallback else Reply()

    async def recover(self, turn: Turn, payload: Any, problem: str) -> Reply:
        """Bad card data: the owning feature's live card with a note; for data with no verb we
        know, the first feature that has one for this person; else the note alone."""
        raw: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
        verb = raw.get("verb")
        if isinstance(verb, str) and verb in self._recovery_of_verb:
            owner = self._recovery_of_verb[verb]
            candidates = [owner] if owner is not None else []
        else:
            candidates = list(self._recoveries)
        for recover in candidates:
            reply = await recover(turn, raw, problem)
            if reply is not None:
                return reply
        note = cards.notice_card(NoticeView(f"ⓘ Sorry, {problem}. Nothing was changed."))
        # An invoke must be answered with a card; a message turn just gets the note.
        return Reply(replace=note) if turn.invoked else Reply(send=[note])


def _bind(dialog: object, handle: Callable[..., Awaitable[Reply]]) -> Callable[..., Any]:
    """`Dialog.method` (declared on the class) → the method of this dialog instance."""
    name = getattr(handle, "__name__", "")
    if getattr(type(dialog), name, None) is not handle:
        raise ValueError(f"{handle!r} is not a method of {type(dialog).__name__}")
    bound: Callable[..., Any] = getattr(dialog, name)
    return bound


class ImpactBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(self, db: Database, dispatch: Dispatch) -> None:
        self.db = db
        self.dispatch = dispatch

    # -- messages and card actions --------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        turn = turn_of(turn_context, invoked=False)
        if activity.value is not None:  # Action.Submit (the Action.Execute fallback)
            reply = await self._card_action(turn, activity.value)
            await replies.deliver(turn_context, reply, replace_activity_id=activity.reply_to_id)
            return
        if turn.scope == "personal":
            await self._remember_conversation(turn_context, turn.identity)
        text = text_without_bot_mention(activity)
        command = self.dispatch.command_for(text)
        if command is not None and turn.scope in command.scopes:
            reply = await command.handle(turn, text)
        elif turn.scope != "personal":
            reply = Reply(send=[PERSONAL_ONLY_CARD])
        else:
            reply = await self.dispatch.fallback(turn, text)
        await replies.deliver(turn_context, reply)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != ADAPTIVE_CARD_ACTION:
            # Task modules, message extensions, sign-in...: the bot declares none of them, and
            # the SDK's answer, 501, reads as the bot failing (and its handlers are fragile
            # with forged values). A 400 says what is wrong and reaches no handler.
            log.info("refused an invoke this bot does not handle")
            return replies.invoke_status(
                HTTPStatus.BAD_REQUEST, {"error": "this bot does not handle that invoke"}
            )
        turn = turn_of(turn_context, invoked=True)
        payload = unwrap_invoke(turn_context.activity.value)
        reply = await self._card_action(turn, payload)
        return await replies.deliver_invoke(turn_context, reply)

    async def _card_action(self, turn: Turn, payload: Any) -> Reply:
        try:
            action = self.dispatch.parse(payload)
        except InvalidAction as exc:
            log.info("invalid card action from %s: %s", turn.identity.teams_user_id, exc)
            kept = await self.dispatch.keep_card(turn, payload, str(exc))
            return kept or await self.dispatch.recover(turn, payload, str(exc))
        kept = await self.dispatch.keep_card(turn, payload, "that button doesn't belong here")
        if kept is not None:
            log.info("card action %s pressed on another feature's live card", action.verb)
            return kept
        verb = self.dispatch.verb_for(action)
        if turn.scope not in verb.scopes:
            return Reply(replace=PERSONAL_ONLY_CARD) if turn.invoked else _personal_only()
        return await verb.handle(turn, action)

    # -- installation and membership ------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember_conversation(turn_context, identity_of(turn_context))

    async def on_teams_members_added_dispatch(
        self, members_added: list[Any], team_info: Any, turn_context: TurnContext
    ) -> None:
        """Who joined, as the activity names them. The SDK would look each one up in Teams (a
        request per member, and a failed turn for an id Teams does not know or an empty one);
        the bot only needs to know whether it is among them."""
        members = [
            TeamsChannelAccount(
                id=getattr(member, "id", None),
                name=getattr(member, "name", None),
                aad_object_id=getattr(member, "aad_object_id", None),
                role=getattr(member, "role", None),
            )
            for member in members_added
        ]
        await self.on_teams_members_added(members, team_info, turn_context)

    async def on_teams_members_added(
        self,
        teams_members_added: list[Any],
        team_info: Any,
        turn_context: TurnContext,
    ) -> None:
        activity = turn_context.activity
        if team_info is not None and getattr(team_info, "id", None):
            await self._team_installed(turn_context, team_info, teams_members_added)
            return
        turn = turn_of(turn_context, invoked=False)
        if turn.scope != "personal" or not bot_among(activity, teams_members_added):
            return  # group chats, or someone else joining: nothing to do
        await self._remember_conversation(turn_context, turn.identity)
        await replies.deliver(turn_context, await self.dispatch.welcome(turn))

    async def _team_installed(
        self, turn_context: TurnContext, team_info: Any, members_added: list[Any]
    ) -> None:
        activity = turn_context.activity
        if not bot_among(activity, members_added):
            return  # someone joined the team: rosters are read when a round opens
        reference = TurnContext.get_conversation_reference(activity)
        install = TeamInstall(
            tenant_id=tenant_of(turn_context),
            team_id=str(team_info.id),
            aad_group_id=getattr(team_info, "aad_group_id", None),
            name=display_name(getattr(team_info, "name", "")),
            channel_conversation_id=str(activity.conversation.id),
            service_url=str(activity.service_url),
            reference_json=json.dumps(reference.serialize(), sort_keys=True),
        )
        await self.db.run(lambda session: record_install(session, install, utcnow()))
        log.info("installed in team %s", install.team_id)

    async def on_teams_members_removed(
        self, teams_members_removed: list[Any], team_info: Any, turn_context: TurnContext
    ) -> None:
        if team_info is None or not bot_among(turn_context.activity, teams_members_removed):
            return
        team_id = str(team_info.id)
        await self.db.run(lambda session: record_removal(session, team_id, utcnow()))
        log.info("removed from team %s", team_id)

    async def on_teams_team_renamed(self, team_info: Any, turn_context: TurnContext) -> None:
        team_id, name = str(team_info.id), display_name(team_info.name)
        await self.db.run(lambda session: record_rename(session, team_id, name, utcnow()))

    # -- helpers --------------------------------------------------------------------------

    async def _remember_conversation(self, turn_context: TurnContext, identity: Identity) -> None:
        """Store where this person can be reached proactively (rounds, nudges)."""
        activity = turn_context.activity
        if activity.conversation is None or not activity.service_url:
            return
        scope = getattr(activity.conversation, "conversation_type", None) or "personal"
        if scope != "personal" or not identity.teams_user_id:
            return
        reference = TurnContext.get_conversation_reference(activity)
        reference_json = json.dumps(reference.serialize(), sort_keys=True)

        def save(session: Any) -> None:
            now = utcnow()
            person = ensure_person(session, identity, now)
            save_reference(
                session,
                person_id=person.id,
                scope=scope,
                conversation_id=str(activity.conversation.id),
                tenant_id=identity.tenant_id,
                service_url=str(activity.service_url),
                reference_json=reference_json,
                now=now,
            )

        await self.db.run(save)


def _personal_only() -> Reply:
    return Reply(send=[PERSONAL_ONLY_CARD])
