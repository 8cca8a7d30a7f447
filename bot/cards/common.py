"""Adaptive Card building blocks that Teams renders on desktop, web, iOS and Android.

Rules kept here so every card follows them:
- schema 1.5 at most (Teams' ceiling); no Action.ToggleVisibility (open iOS bug in Teams);
- every button's meaning is in its title, never in its colour alone;
- text people typed is shown through RichTextBlock TextRuns, which Teams does not parse as
  markdown, so a comment can never reformat a card;
- actions are Action.Execute (Universal Actions: the bot answers with the replacement card in the
  same HTTP exchange) with an Action.Submit fallback carrying the same data for older clients.
"""

from __future__ import annotations

from typing import Any, Literal

Card = dict[str, Any]
Element = dict[str, Any]

CARD_VERSION = "1.5"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card(body: list[Element], actions: list[Element] | None = None, *, speak: str = "") -> Card:
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        # Teams draws cards at full chat width on desktop; without this they shrink on some
        # clients and long descriptors become unreadable.
        "msteams": {"width": "Full"},
    }
    if actions:
        result["actions"] = actions
    if speak:
        result["speak"] = speak
    return result


def text(
    value: str,
    *,
    size: Literal["small", "default", "medium", "large"] = "default",
    weight: Literal["default", "bolder"] = "default",
    subtle: bool = False,
    heading: bool = False,
    spacing: str | None = None,
) -> Element:
    element: Element = {"type": "TextBlock", "text": value, "wrap": True}
    if size != "default":
        element["size"] = size
    if weight != "default":
        element["weight"] = weight
    if subtle:
        element["isSubtle"] = True
    if heading:
        element["style"] = "heading"  # announced as a heading by screen readers
    if spacing:
        element["spacing"] = spacing
    return element


MARKDOWN_SIGNS = "\\`*_{}[]()<>#+-.!|~"


def escape_markdown(value: str) -> str:
    """A name someone chose (a team, a round, a schedule) inside a TextBlock, which Teams reads
    as markdown: every sign markdown gives a meaning is escaped, so `[click](https://…)` shows
    as those characters, never as a link under the bot's name."""
    return "".join(f"\\{ch}" if ch in MARKDOWN_SIGNS else ch for ch in value)


def more_line(shown: int, total: int, what: str) -> Element:
    """The line under a list cut short to keep a card phone-sized and within Teams' size."""
    return text(f"…and {total - shown} more {what}.", size="small", subtle=True)


def plain(value: str, *, label: str = "", subtle: bool = False) -> Element:
    """User-supplied text, shown verbatim (TextRuns are not markdown)."""
    inlines: list[Element] = []
    if label:
        inlines.append({"type": "TextRun", "text": label, "weight": "bolder"})
    run: Element = {"type": "TextRun", "text": value}
    if subtle:
        run["isSubtle"] = True
    inlines.append(run)
    return {"type": "RichTextBlock", "inlines": inlines}


def notice(value: str) -> Element:
    """A note above a card's content; the leading sign carries the meaning, the colour helps."""
    return {
        "type": "Container",
        "style": "warning",
        "items": [text(f"ⓘ {value}", weight="bolder")],
    }


def execute(
    title: str,
    verb: str,
    data: dict[str, Any],
    *,
    style: Literal["default", "positive", "destructive"] = "default",
    inputs: Literal["auto", "none"] = "auto",
) -> Element:
    payload = {"verb": verb, **data}
    action: Element = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": payload,
        "associatedInputs": inputs,
        "fallback": {
            "type": "Action.Submit",
            "title": title,
            "data": payload,
            "associatedInputs": inputs,
        },
    }
    if style != "default":
        action["style"] = style
        action["fallback"]["style"] = style
    return action


def show_card(title: str, body: list[Element]) -> Element:
    inner = {"type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    return {"type": "Action.ShowCard", "title": title, "card": inner}


def bullets(items: tuple[str, ...] | list[str]) -> list[Element]:
    return [text(f"• {item}", spacing="small") for item in items]


def message_activity(content: Card) -> dict[str, Any]:
    """A message carrying one card, as the Bot Connector takes it (what the outbox stores)."""
    return {
        "type": "message",
        "attachmentLayout": "list",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": content}],
    }
