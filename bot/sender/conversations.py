"""The Bot Connector objects the sender builds: a new 1:1 chat's parameters and reference, and
the outgoing activity addressed to its conversation."""

from __future__ import annotations

import json
from typing import Any

from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)

from bot.activity_codec import activity_from_json, model_json
from store.outbox import Target


def personal_chat(target: Target) -> ConversationParameters:
    """POST /v3/conversations for the 1:1 chat with a person (Teams returns the existing one)."""
    assert target.user_id
    assert target.tenant_id
    assert target.bot_id
    return ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id=target.bot_id),
        members=[ChannelAccount(id=target.user_id)],
        tenant_id=target.tenant_id,
        channel_data={"tenant": {"id": target.tenant_id}},
    )


def chat_reference_json(target: Target, conversation_id: str, service_url: str) -> str:
    """The conversation reference stored for a chat the sender created."""
    reference = ConversationReference(
        bot=ChannelAccount(id=target.bot_id),
        user=ChannelAccount(id=target.user_id),
        conversation=ConversationAccount(
            id=conversation_id,
            conversation_type="personal",
            tenant_id=target.tenant_id,
            is_group=False,
        ),
        channel_id="msteams",
        service_url=service_url,
    )
    return json.dumps(model_json(reference), sort_keys=True)


def outgoing(
    stored: dict[str, Any], target: Target, conversation_id: str, service_url: str
) -> Activity:
    """The stored activity, addressed to its conversation."""
    activity = activity_from_json(stored)  # msrest's Activity().deserialize(stored), exactly
    activity.conversation = ConversationAccount(
        id=conversation_id, tenant_id=target.tenant_id or None
    )
    if target.bot_id and activity.from_property is None:
        activity.from_property = ChannelAccount(id=target.bot_id)
    activity.service_url = service_url
    activity.channel_id = activity.channel_id or "msteams"
    return activity
