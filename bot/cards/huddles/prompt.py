"""The huddle prompt card, posted in the team's channel and updated in place as the huddle goes.

Read on a phone from the top: what the huddle is and who leads it (an @mention), where the team
left off (ideas being tested, actions with "Overdue"/"Due today" in words, escalations waiting),
the format's sections, how many are here and whether it was held. Each button sits beside what
it changes: a form (Action.ShowCard) to update an item below the items; I'm here and the lead's
Held or not below the count and the huddle's state; and as the card's own buttons, forms to add
an idea, an action or an escalation (as the format offers). No row holds more than three
buttons, so each fits a phone's width (360 px), and no set more than five, the most Adaptive
Cards renderers show by default. What people typed is shown as plain text (TextRuns); a form
that could not be saved comes back filled in.
"""

from __future__ import annotations

from typing import Any

from bot.cards.common import (
    Card,
    Element,
    card,
    escape_markdown,
    execute,
    notice,
    plain,
    show_card,
    text,
)
from huddles.rules.views import CHANGES, Choice, Draft, ItemLine, Mention, PromptView

TEXT_MAX = 500  # huddles.rules.items.MAX_TEXT_CHARS


def note_block(note: str) -> Element:
    """A confirmation (✓ …) in bold; anything else as a notice (ⓘ, warning style)."""
    if note.startswith("✓"):
        return text(note, weight="bolder")
    return notice(note)


def mention_text(mention: Mention) -> str:
    """The name inside the tag escaped as markdown (the entity's text is this same string)."""
    return f"<at>{escape_markdown(mention.name)}</at>"


def mention_entities(mentions: tuple[Mention, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "mention",
            "text": mention_text(m),
            "mentioned": {"id": m.teams_user_id, "name": m.name},
        }
        for m in mentions
    ]


def item_blocks(item: ItemLine) -> list[Element]:
    """An item: its words as typed, then who, when and how it stands (flag word first)."""
    detail = plain(item.detail, label=f"{item.flag} · " if item.flag else "", subtle=True)
    detail["spacing"] = "none"
    return [plain(item.text, label="• "), detail]


def _items_section(title: str, items: tuple[ItemLine, ...]) -> list[Element]:
    if not items:
        return []
    blocks: list[Element] = [text(f"{title} ({len(items)})", weight="bolder", spacing="small")]
    for item in items:
        blocks += item_blocks(item)
    return blocks


def _where_we_left_off(view: PromptView) -> list[Element]:
    blocks = [text("Where we left off", size="medium", weight="bolder", spacing="medium")]
    if not view.open_items:
        return [*blocks, text("Nothing open from last time.", subtle=True, spacing="none")]
    blocks += _items_section("Ideas", view.ideas)
    blocks += _items_section("Actions", view.actions)
    blocks += _items_section("Escalations waiting", view.escalations)
    if view.more:
        blocks.append(text(view.more, size="small", subtle=True))
    draft = _draft(view, "change")
    form = update_form(view.open_items, {"huddle": view.huddle_id}, draft.note if draft else "")
    blocks.append(_buttons(show_card("Update an item", form)))
    return blocks


def _buttons(*actions: Element) -> Element:
    return {"type": "ActionSet", "spacing": "small", "actions": list(actions)}


def _format_sections(view: PromptView) -> list[Element]:
    blocks = [text("Today's huddle", size="medium", weight="bolder", spacing="medium")]
    for section in view.format.sections:
        blocks.append(text(section.title, weight="bolder", spacing="small"))
        blocks.append(text(section.prompt, spacing="none"))
    return blocks


def _status(view: PromptView) -> list[Element]:
    here = "1 person" if view.attendance == 1 else f"{view.attendance} people"
    facts = [
        {"title": "Here", "value": here},
        {"title": "Huddle", "value": view.outcome or "Not recorded yet"},
    ]
    blocks: list[Element] = [{"type": "FactSet", "facts": facts, "spacing": "medium"}]
    if view.outcome_note:
        blocks.append(plain(view.outcome_note, label="Notes: "))
    arrived = execute("I'm here", "huddle_here", {"huddle": view.huddle_id}, inputs="none",
                      style="positive")  # fmt: skip
    blocks.append(_buttons(arrived, _outcome(view)))
    return blocks


def _draft(view: PromptView, kind: str) -> Draft | None:
    return view.draft if view.draft is not None and view.draft.kind == kind else None


def _text_input(input_id: str, label: str, value: str, placeholder: str) -> Element:
    element: Element = {
        "type": "Input.Text", "id": input_id, "label": label, "isMultiline": True,
        "maxLength": TEXT_MAX, "isRequired": True, "errorMessage": "Write something first.",
        "placeholder": placeholder,
    }  # fmt: skip
    if value:
        element["value"] = value
    return element


def _choices(choices: tuple[Choice, ...]) -> list[dict[str, str]]:
    return [{"title": c.title, "value": c.value} for c in choices]


def _save(title: str, verb: str, view: PromptView) -> Element:
    button = execute(title, verb, {"huddle": view.huddle_id}, style="positive")
    return {"type": "ActionSet", "actions": [button]}


def _add_idea(view: PromptView) -> Element:
    draft = _draft(view, "idea")
    return show_card("Add idea", [
        _text_input("idea_text", "Your idea", draft.text if draft else "",
                    "What could we try to make things better?"),
        _save("Save idea", "huddle_idea", view),
    ])  # fmt: skip


def _add_action(view: PromptView) -> Element:
    draft = _draft(view, "action")
    owner = draft.owner if draft and draft.owner else "me"
    return show_card("Add action", [
        _text_input("action_text", "What needs doing", draft.text if draft else "",
                    "Who does what, briefly"),
        {"type": "Input.ChoiceSet", "id": "action_owner", "label": "Owner", "style": "compact",
         "value": owner, "choices": _choices(view.owners)},
        {"type": "Input.Date", "id": "action_due", "label": "Due", "isRequired": True,
         "errorMessage": "Give it a due date.",
         "value": draft.due if draft and draft.due else view.today},
        _save("Save action", "huddle_action", view),
    ])  # fmt: skip


def _add_escalation(view: PromptView) -> Element:
    draft = _draft(view, "escalation")
    return show_card("Add escalation", [
        text("Something the team can't sort out itself: it goes to the team above.",
             size="small"),
        _text_input("escalation_text", "What needs unblocking", draft.text if draft else "",
                    "What is blocking us, and what help we need"),
        _save("Save escalation", "huddle_escalation", view),
    ])  # fmt: skip


def update_form(items: tuple[ItemLine, ...], data: dict[str, Any], note: str = "") -> list[Element]:
    """Choose an item and what happened to it (the server checks the change fits the item)."""
    fields: list[Element] = [
        {"type": "Input.ChoiceSet", "id": "item", "label": "Item", "style": "compact",
         "isRequired": True, "errorMessage": "Choose an item.", "placeholder": "Choose an item",
         "choices": [{"title": i.choice_title or i.text, "value": i.ref} for i in items]},
        {"type": "Input.ChoiceSet", "id": "change", "label": "What happened", "style": "compact",
         "isRequired": True, "errorMessage": "Choose what happened.",
         "placeholder": "Choose what happened", "choices": _choices(CHANGES)},
        {"type": "Input.Text", "id": "change_note", "label": "Note (needed for escalations)",
         "maxLength": TEXT_MAX, "isMultiline": True, **({"value": note} if note else {})},
    ]  # fmt: skip
    button = execute("Save change", "huddle_item", data, style="positive")
    return [*fields, {"type": "ActionSet", "actions": [button]}]


def _outcome(view: PromptView) -> Element:
    draft = _draft(view, "outcome")
    note: Element = {
        "type": "Input.Text", "id": "outcome_note", "label": "Notes (say why if it didn't happen)",
        "maxLength": TEXT_MAX, "isMultiline": True,
    }  # fmt: skip
    if draft and draft.note:
        note["value"] = draft.note
    data = {"huddle": view.huddle_id}
    buttons = [
        execute("Held", "huddle_held", data, style="positive"),
        execute("Didn't happen", "huddle_not_held", data),
    ]
    return show_card("Held or not", [
        text("For the huddle's lead: record how it went.", size="small"), note,
        {"type": "ActionSet", "actions": buttons},
    ])  # fmt: skip


def prompt_card(view: PromptView) -> Card:
    body: list[Element] = [note_block(view.notice)] if view.notice else []
    body += [
        text(f"{escape_markdown(view.format.name)}: {escape_markdown(view.team_name)}",
             size="large", weight="bolder", heading=True),
        text(f"{escape_markdown(view.schedule_name)} · {view.when} · about "
             f"{view.format.duration_minutes} "
             "minutes", subtle=True, spacing="none"),
    ]  # fmt: skip
    if view.leads:
        body.append(text("Led by " + ", ".join(mention_text(m) for m in view.leads), size="small"))
    body += _where_we_left_off(view)
    body += _format_sections(view)
    body += _status(view)
    builders = {"idea": _add_idea, "action": _add_action, "escalation": _add_escalation}
    actions = [builders[kind](view) for kind in view.format.captures if kind in builders]
    result = card(body, actions, speak=f"{view.format.name} for {view.team_name}")
    if view.leads:
        result["msteams"]["entities"] = mention_entities(view.leads)
    return result
