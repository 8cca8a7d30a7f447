"""Reading who and where from an activity: the identity of the sender, the tenant, the scope
(personal chat, team channel, group chat) and, in a channel, the team."""

from __future__ import annotations

import unicodedata
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import TurnContext
from botbuilder.schema import ChannelAccount

from bot.registry import Scope, Turn
from framework.identity import Identity

SCOPES: dict[str, Scope] = {"personal": "personal", "channel": "channel", "groupChat": "groupChat"}


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
        name=display_name(sender.name),
        time_zone=valid_zone(getattr(turn_context.activity, "local_timezone", None)),
    )


def display_name(raw: object) -> str:
    """A name Teams sent (a person's, a team's), as it is stored and shown: one line of text
    without control characters, NUL (PostgreSQL refuses it) or lone surrogates (not UTF-8),
    at most 256 characters."""
    text = raw if isinstance(raw, str) else ""
    kept = "".join(
        " " if category == "Cc" else ch
        for ch in text
        if (category := unicodedata.category(ch)) != "Cs"
    )
    return " ".join(kept.split())[:256]


def turn_of(turn_context: TurnContext, *, invoked: bool) -> Turn:
    activity = turn_context.activity
    conversation = activity.conversation
    kind = getattr(conversation, "conversation_type", None) or "personal"
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team") or {}
    channel = channel_data.get("channel") or {}
    pressed = invoked or activity.value is not None  # a card's button, not typed text
    return Turn(
        identity=identity_of(turn_context),
        scope=SCOPES.get(kind, "groupChat"),
        conversation_id=str(getattr(conversation, "id", "") or ""),
        team_id=str(team["id"]) if isinstance(team, dict) and team.get("id") else None,
        channel_id=str(channel["id"]) if isinstance(channel, dict) and channel.get("id") else None,
        invoked=invoked,
        card_id=str(activity.reply_to_id) if pressed and activity.reply_to_id else None,
    )


def valid_zone(value: str | None) -> str | None:
    """Teams sends an IANA zone name; anything else is ignored rather than stored."""
    if not value or len(value) > 64:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def bot_among(activity: Any, members: list[Any]) -> bool:
    """Whether a membership change is about the bot itself (installed or removed)."""
    bot_id = activity.recipient.id if activity.recipient else None
    return any(member.id == bot_id for member in members)
