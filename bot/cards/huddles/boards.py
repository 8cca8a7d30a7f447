"""Huddle cards beside the prompt: a team's open ideas or actions (`ideas`, `actions`), a notice
to a team's channel (an escalation answered), an action owner's nudge, and the digests."""

from __future__ import annotations

from bot.cards.common import (
    Card,
    Element,
    card,
    escape_markdown,
    execute,
    more_line,
    plain,
    show_card,
    text,
)
from bot.cards.huddles.prompt import item_blocks, note_block, update_form
from huddles.rules.views import DigestView, ItemListView, NoticeView, NudgeView

MAX_LISTED_ITEMS = 20  # about 18 KB at the longest texts: well within Teams' 28 KB a message


def item_list_card(view: ItemListView) -> Card:
    body: list[Element] = [note_block(view.notice)] if view.notice else []
    body += [
        text(view.title, size="medium", weight="bolder", heading=True),
        text(view.team_name, subtle=True, spacing="none"),
    ]
    if not view.items:
        body.append(text(view.empty))
        return card(body)
    listed = view.items[:MAX_LISTED_ITEMS]
    for item in listed:
        body += item_blocks(item)
    if len(view.items) > len(listed):
        body.append(more_line(len(listed), len(view.items), view.list_kind))
    form = update_form(listed, {"list": view.list_kind})
    return card(body, [show_card("Update an item", form)])


def notice_card(view: NoticeView) -> Card:
    body: list[Element] = [text(view.heading, weight="bolder", heading=True)]
    body += [text(line) for line in view.lines]
    body += [plain(typed, label=label) for label, typed in view.quoted]
    return card(body)


def nudge_card(view: NudgeView) -> Card:
    body: list[Element] = [
        text("An action due today", size="medium", weight="bolder", heading=True),
        plain(view.text),
        text(f"From {view.team_name}'s huddle, due {view.due}.", subtle=True),
    ]
    done = execute("Done", "huddle_item", {"item": view.ref, "change": "done"},
                   style="positive", inputs="none")  # fmt: skip
    return card(body, [done])


def digest_card(view: DigestView) -> Card:
    body: list[Element] = [
        text(view.title, size="medium", weight="bolder", heading=True),
        text(view.period, subtle=True, spacing="none"),
    ]
    for section in view.sections:
        body.append(text(section.title, weight="bolder", spacing="medium"))
        body += _facts(section.facts)
        body += [plain(typed, label=label) for label, typed in section.quoted]
    return card(body)


SHORT_FACT_TITLE = 24  # a FactSet's title column is narrow on a phone: longer titles go above


def _facts(facts: tuple[tuple[str, str], ...]) -> list[Element]:
    """Figures with their names: a FactSet when the names are short; otherwise each name (a team
    someone named, so escaped) in bold on its own line with its figures below, as a phone reads
    best."""
    if not facts:
        return []
    if all(len(title) <= SHORT_FACT_TITLE for title, _ in facts):
        return [{"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]}]
    blocks: list[Element] = []
    for title, value in facts:
        blocks.append(text(f"**{escape_markdown(title)}**", spacing="small"))
        blocks.append(text(value, size="small", spacing="none"))
    return blocks
