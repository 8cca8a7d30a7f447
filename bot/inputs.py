"""What a person sends, made plain text at the edge, before any handler or database sees it.

Every string in a message's text and in card data (Action.Submit's `value`, an invoke's
`value.action.data`) loses its control characters other than tab and line breaks (NUL, which
PostgreSQL text cannot hold, among them) and any lone surrogate (which is not UTF-8). Nothing
else changes: a forged id with a NUL in it is then simply an id nobody has, and typed text
keeps every character a person can type. The display name has its own, stricter rule
(`bot.identity.display_name`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

_KEPT_CONTROLS = frozenset("\t\n\r")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters, lone surrogates


def plain_text(text: str) -> str:
    """`text` without control characters (but tab, CR and LF) or lone surrogates."""
    if text.isprintable():  # the common case: nothing to drop
        return text
    return "".join(
        ch
        for ch in text
        if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )


def plain_data(value: Any) -> Any:
    """JSON data with `plain_text` applied to every string in it, keys included."""
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, dict):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    return value
