"""The Teams activity handler: who is this, which tenant, which action → one dialog call.

It holds no conversation logic: it reads the activity, validates card actions with one pydantic
model (bot.actions), calls the dialog, and hands the dialog's reply to bot.replies.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import InvokeResponse, Middleware, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import ActivityTypes, ChannelAccount

from bot import replies as teams_io
from bot.actions import ADMIN_VERBS, InvalidAction, parse_card_action, unwrap_invoke
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.dialogs.assessment import AssessmentDialog, Reply
from bot.dialogs.rounds.admin import AdminDialog
from bot.dialogs.rounds.reminders import RemindersDialog
from framework.identity import Identity
from store.db import Database
from store.people import ensure_person, save_reference
from store.teams import TeamInstall, record_install, record_removal, record_rename
from store.types import utcnow

log = logging.getLogger(__name__)

ADAPTIVE_CARD_ACTION = "adaptiveCard/action"


def tenant_of(turn_context: TurnContext) -> str:
    activity = turn_context.activity
    tenant = getattr(activity.conversation, "tenant_id", None) if activity.conversation else None
    if not tenant and isinstance(activity.channel_data, dict):
        tenant = (activity.channel_data.get("tenant") or {}).get("id")
    return str(tenant or "")


def identity_of(turn_context: TurnContext) -> Identity:
    sender: ChannelAccount = turn_context.activity.from_property
    return Identity(
        tenant_id=tenant_of(turn_context),
        teams_user_id=str(sender.id),
        aad_object_id=getattr(sender, "aad_object_id", None) or None,
        name=(sender.name or "").strip()[:256],
        time_zone=_valid_zone(getattr(turn_context.activity, "local_timezone", None)),
    )


def _valid_zone(value: str | None) -> str | None:
    """Teams sends an IANA zone name; anything else is ignored rather than stored."""
    if not value or len(value) > 64:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def _bot_among(activity: Any, members: list[Any]) -> bool:
    """Whether a membership change is about the bot itself (installed or removed)."""
    bot_id = activity.recipient.id if activity.recipient else None
    return any(member.id == bot_id for member in members)


def is_personal(turn_context: TurnContext) -> bool:
    conversation = turn_context.activity.conversation
    return getattr(conversation, "conversation_type", None) in (None, "personal")


# Individual answers never appear where others can see them.
PERSONAL_ONLY_CARD = cards.notice_card(
    NoticeView(
        "I run the self-assessment privately, in a 1:1 chat. Open a chat with me "
        "(select my name, then Chat) and type start."
    )
)


class TenantGate(Middleware):  # type: ignore[misc]
    """Refuses activities from tenants outside IMPACT_ALLOWED_TENANTS (empty: any tenant)."""

    def __init__(self, allowed_tenants: tuple[str, ...]) -> None:
        self._allowed = frozenset(allowed_tenants)

    async def on_turn(self, context: TurnContext, logic: Any) -> None:
        if not self._allowed or tenant_of(context) in self._allowed:
            await logic()
            return
        activity = context.activity
        log.warning(
            "refused activity from tenant %r (type=%s, from=%s)",
            tenant_of(context),
            activity.type,
            getattr(activity.from_property, "id", None),
        )
        if activity.type == ActivityTypes.invoke:
            teams_io.set_invoke_response(context, HTTPStatus.FORBIDDEN)
        elif activity.type == ActivityTypes.message:
            await context.send_activity("Sorry, this bot isn't available for your organisation.")


@dataclass(frozen=True)
class Dialogs:
    assessment: AssessmentDialog
    admin: AdminDialog
    reminders: RemindersDialog


class ImpactBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(self, db: Database, dialogs: Dialogs, comment_max_chars: int) -> None:
        self.db = db
        self.dialogs = dialogs
        self.dialog = dialogs.assessment
        self.comment_max_chars = comment_max_chars

    # -- messages and card actions --------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not is_personal(turn_context):
            await teams_io.deliver(turn_context, Reply(send=[PERSONAL_ONLY_CARD]))
            return
        identity = identity_of(turn_context)
        if activity.value is not None:  # Action.Submit (the Action.Execute fallback)
            reply = await self._card_action(identity, activity.value, invoked=False)
            await teams_io.deliver(turn_context, reply, replace_activity_id=activity.reply_to_id)
            return
        await self._remember_conversation(turn_context, identity)
        text = TurnContext.remove_recipient_mention(activity) or activity.text or ""
        if self.dialogs.reminders.handles(text):
            reply = await self.dialogs.reminders.on_text(identity, text)
        elif self.dialogs.admin.handles_text(text):
            reply = await self.dialogs.admin.on_text(identity, text)
        else:
            reply = await self.dialog.on_text(identity, text)
        await teams_io.deliver(turn_context, reply)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != ADAPTIVE_CARD_ACTION:
            return await super().on_invoke_activity(turn_context)
        if not is_personal(turn_context):
            return await teams_io.deliver_invoke(turn_context, Reply(replace=PERSONAL_ONLY_CARD))
        identity = identity_of(turn_context)
        payload = unwrap_invoke(turn_context.activity.value)
        reply = await self._card_action(identity, payload, invoked=True)
        return await teams_io.deliver_invoke(turn_context, reply)

    async def _card_action(self, identity: Identity, payload: Any, *, invoked: bool) -> Reply:
        try:
            action = parse_card_action(payload, comment_max_chars=self.comment_max_chars)
        except InvalidAction as exc:
            log.info("invalid card action from %s: %s", identity.teams_user_id, exc)
            note = cards.notice_card(
                NoticeView(f"ⓘ Sorry, {exc}. Nothing was changed; type resume to carry on.")
            )
            # An invoke must be answered with a card; a message turn just gets the note.
            return Reply(replace=note) if invoked else Reply(send=[note])
        if action.verb in ADMIN_VERBS:
            return await self.dialogs.admin.on_action(identity, action)
        if action.verb == "reminder_times":
            return await self.dialogs.reminders.on_form(identity, action)
        return await self.dialog.on_action(identity, action)

    # -- installation and membership ------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember_conversation(turn_context, identity_of(turn_context))

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
        if not is_personal(turn_context):
            return  # group chats: nothing to do
        if not _bot_among(activity, teams_members_added):
            return  # welcome once, when the bot joins the chat
        identity = identity_of(turn_context)
        await self._remember_conversation(turn_context, identity)
        await teams_io.deliver(turn_context, await self.dialog.welcome(identity))

    async def _team_installed(
        self, turn_context: TurnContext, team_info: Any, members_added: list[Any]
    ) -> None:
        activity = turn_context.activity
        if not _bot_among(activity, members_added):
            return  # someone joined the team: rosters are read when a round opens
        reference = TurnContext.get_conversation_reference(activity)
        install = TeamInstall(
            tenant_id=tenant_of(turn_context),
            team_id=str(team_info.id),
            aad_group_id=getattr(team_info, "aad_group_id", None),
            name=str(getattr(team_info, "name", "") or ""),
            channel_conversation_id=str(activity.conversation.id),
            service_url=str(activity.service_url),
            reference_json=json.dumps(reference.serialize(), sort_keys=True),
        )
        await self.db.run(lambda session: record_install(session, install, utcnow()))
        log.info("installed in team %s (%s)", install.name, install.team_id)

    async def on_teams_members_removed(
        self, teams_members_removed: list[Any], team_info: Any, turn_context: TurnContext
    ) -> None:
        if team_info is None or not _bot_among(turn_context.activity, teams_members_removed):
            return
        team_id = str(team_info.id)
        await self.db.run(lambda session: record_removal(session, team_id, utcnow()))
        log.info("removed from team %s", team_id)

    async def on_teams_team_renamed(self, team_info: Any, turn_context: TurnContext) -> None:
        team_id, name = str(team_info.id), str(team_info.name or "")
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
