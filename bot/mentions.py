"""A message's text without Teams' @mentions of this bot, read from untrusted entities.

Teams writes a mention of the bot into the text as `<at>NHS IMPACT</at>` and describes it in
`entities` (`{"type": "mention", "text": "<at>…</at>", "mentioned": {"id": …, "name": …}}`).
The entities are the sender's to write, so they are read defensively: anything that is not a
well-formed mention of this bot is ignored, and the tag is removed as text, never used as a
pattern. (botbuilder's `TurnContext.remove_recipient_mention` failed the turn on an entity
without a type, a mention without `mentioned`, or a name that is not a regular expression.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botbuilder.schema import Activity

MENTION = "mention"


def text_without_bot_mention(activity: Activity) -> str:
    """The activity's text with every `<at>…</at>` tag its entities say mentions this bot
    (the recipient) removed; the text as it is if there is none."""
    text = activity.text if isinstance(activity.text, str) else ""
    bot_id = getattr(activity.recipient, "id", None)
    if not isinstance(bot_id, str) or not bot_id:
        return text
    for tag in _bot_mention_tags(activity.entities, bot_id):
        text = text.replace(tag, "")
    return text


def _bot_mention_tags(entities: Any, bot_id: str) -> Iterator[str]:
    if not isinstance(entities, list):
        return
    for entity in entities:
        kind = getattr(entity, "type", None)
        if not isinstance(kind, str) or kind.lower() != MENTION:
            continue
        properties = getattr(entity, "additional_properties", None) or {}
        mentioned = properties.get("mentioned")
        if not isinstance(mentioned, dict) or mentioned.get("id") != bot_id:
            continue
        if tag := _tag(properties.get("text"), mentioned.get("name")):
            yield tag


def _tag(text: Any, name: Any) -> str | None:
    """The mention as the text holds it: the entity's `text`, else `<at>name</at>`."""
    if isinstance(text, str) and text.startswith("<at") and text.endswith("</at>"):
        return text
    if isinstance(name, str) and name:
        return f"<at>{name}</at>"
    return None
