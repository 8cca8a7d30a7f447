"""Pieces the alignment cards share: people's words as TextRuns (never markdown), notes that may
quote them, counts in words, and how a piece of work is described."""

from __future__ import annotations

from typing import Literal

from alignment.rules.matrix import Work
from bot.cards.common import Element

Weight = Literal["default", "bolder", "subtle"]

KIND_NAMES = {"project": "Project", "idea": "Idea"}


def runs(*parts: tuple[str, Weight], spacing: str | None = None) -> Element:
    """One paragraph of TextRuns: bolder for labels, subtle for details; never markdown."""
    inlines: list[Element] = []
    for value, weight in parts:
        run: Element = {"type": "TextRun", "text": value}
        if weight == "bolder":
            run["weight"] = "bolder"
        elif weight == "subtle":
            run["isSubtle"] = True
        inlines.append(run)
    block: Element = {"type": "RichTextBlock", "inlines": inlines}
    if spacing:
        block["spacing"] = spacing
    return block


def strong(value: str) -> Element:
    """A title people typed, in bold, as a TextRun."""
    return runs((value, "bolder"), spacing="none")


def plain_notice(message: str) -> Element:
    """A one-line note above a card's content. Its message may quote what people typed (an
    error naming a title), so it is a TextRun; the sign carries the meaning, the colour helps."""
    sign = "" if message.startswith(("✓", "ⓘ")) else "ⓘ "
    return {"type": "Container", "style": "warning", "items": [runs((sign + message, "bolder"))]}


def count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def work_details(work: Work) -> str:
    """Its team and status, in words: "Ward 7, testing", "no team, active"."""
    return ", ".join(part for part in (work.team_name or "no team", work.status) if part)
