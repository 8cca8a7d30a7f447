"""Cards for leads and the improvement team: a team's huddle schedules (pause, resume, skip,
delete), the schedule form, and the team tree escalations climb."""

from __future__ import annotations

from bot.cards.common import (
    Card,
    Element,
    card,
    escape_markdown,
    execute,
    more_line,
    show_card,
    text,
)
from bot.cards.huddles.prompt import note_block
from huddles.rules.views import Choice, ScheduleFormView, SchedulesView, TreeView

WEEKDAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
            ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))  # fmt: skip
LEAD_MINUTES = (0, 5, 10, 15, 30, 60)


# Kept phone-sized and within Teams' 28 KB a message at the longest names (render check).
MAX_LISTED_SCHEDULES = 20
MAX_TREE_LINES = 40
MAX_TREE_CHOICES = 60  # two lists of every team: beyond this, the CLI arranges a trust


def _choices(choices: tuple[Choice, ...]) -> list[dict[str, str]]:
    return [{"title": c.title, "value": c.value} for c in choices]


def schedules_card(view: SchedulesView, teams: tuple[Choice, ...] = ()) -> Card:
    """The schedules, with their next prompt; one to change, and how; a new one."""
    body: list[Element] = [note_block(view.notice)] if view.notice else []
    body.append(text(view.title, size="medium", weight="bolder", heading=True))
    if not view.lines:
        body.append(text("No huddle schedules yet."))
    for line in view.lines[:MAX_LISTED_SCHEDULES]:
        name, team = escape_markdown(line.name), escape_markdown(line.team_name)
        body.append(text(f"**{name}** · {team}", spacing="medium"))
        body.append(text(f"{escape_markdown(line.format_name)}, {line.when}, in "
                         f"{escape_markdown(line.channel)}", size="small",
                         spacing="none"))  # fmt: skip
        body.append(text(line.state, size="small", subtle=True, spacing="none"))
    if len(view.lines) > MAX_LISTED_SCHEDULES:
        body.append(more_line(MAX_LISTED_SCHEDULES, len(view.lines), "schedules"))
    if view.lines:
        body += _change(view)
    return card(body, [_new_schedule(view, teams)] if view.can_add else [])


def _change(view: SchedulesView) -> list[Element]:
    """The schedule to change and how, together: the buttons sit right below the choice (a row
    of four fits a phone; New schedule is the card's own button)."""
    choice: Element = {
        "type": "Input.ChoiceSet", "id": "schedule", "label": "Schedule to change",
        "style": "compact", "placeholder": "Choose a schedule",
        "choices": [{"title": f"{x.name} ({x.team_name})", "value": str(x.id)}
                    for x in view.lines],
    }  # fmt: skip
    if len(view.lines) == 1:
        choice["value"] = str(view.lines[0].id)
    buttons = [
        execute("Pause", "huddle_pause", {}),
        execute("Resume", "huddle_resume", {}),
        show_card("Skip", [
            {"type": "Input.Date", "id": "skip_on", "label": "Date to skip (empty: the next)"},
            {"type": "ActionSet", "actions": [execute("Skip it", "huddle_skip", {})]},
        ]),
        execute("Delete", "huddle_delete", {}, style="destructive"),
    ]  # fmt: skip
    return [choice, {"type": "ActionSet", "spacing": "small", "actions": buttons}]


def _new_schedule(view: SchedulesView, teams: tuple[Choice, ...]) -> Element:
    if view.team_id is not None or len(teams) == 1:
        team = view.team_id or teams[0].value
        return execute("New schedule", "huddle_schedule_form", {"team": team}, inputs="none",
                       style="positive")  # fmt: skip
    return show_card("New schedule", [
        {"type": "Input.ChoiceSet", "id": "team", "label": "Team", "style": "compact",
         "isRequired": True, "errorMessage": "Choose a team.", "placeholder": "Choose a team",
         "choices": _choices(teams)},
        {"type": "ActionSet", "actions": [execute("Next", "huddle_schedule_form", {})]},
    ])  # fmt: skip


def schedule_form_card(view: ScheduleFormView) -> Card:
    team = view.teams[0]
    body: list[Element] = [note_block(view.notice)] if view.notice else []
    body += [
        text(f"New huddle schedule: {team.title}", size="medium", weight="bolder", heading=True),
        {"type": "Input.Text", "id": "name", "label": "Name", "isRequired": True,
         "maxLength": 200, "errorMessage": "Give the huddle a name.",
         "placeholder": "e.g. Morning safety huddle", "value": view.name},
        {"type": "Input.ChoiceSet", "id": "format", "label": "Format", "style": "expanded",
         "wrap": True, "isRequired": True, "errorMessage": "Choose a format.",
         "value": view.format_id or view.formats[0].value, "choices": _choices(view.formats)},
        {"type": "Input.ChoiceSet", "id": "channel", "label": "Channel", "style": "compact",
         "value": view.channels[0].value, "choices": _choices(view.channels)},
        {"type": "Input.ChoiceSet", "id": "days", "label": "Days", "isMultiSelect": True,
         "style": "expanded", "isRequired": True, "errorMessage": "Choose at least one day.",
         "value": view.days,
         "choices": [{"title": name, "value": key} for key, name in WEEKDAYS]},
        {"type": "Input.Time", "id": "at", "label": "Time of the huddle", "value": view.at,
         "isRequired": True, "errorMessage": "Choose the time."},
        {"type": "Input.Text", "id": "zone", "label": "Time zone", "value": view.zone,
         "maxLength": 64},
        {"type": "Input.ChoiceSet", "id": "lead_minutes", "label": "Post the prompt",
         "style": "compact", "value": str(view.lead_minutes),
         "choices": [{"title": "At the huddle's time" if m == 0 else f"{m} minutes before",
                      "value": str(m)} for m in LEAD_MINUTES]},
        {"type": "Input.Toggle", "id": "bank_holidays", "label": "Bank holidays",
         "title": "Skip England and Wales bank holidays", "valueOn": "true",
         "valueOff": "false", "value": "true" if view.skip_bank_holidays else "false"},
    ]  # fmt: skip
    save = execute("Save schedule", "huddle_schedule_save", {"team": team.value},
                   style="positive")  # fmt: skip
    return card(body, [save])


def tree_card(view: TreeView) -> Card:
    body: list[Element] = [note_block(view.notice)] if view.notice else []
    body.append(text("The huddle cascade", size="medium", weight="bolder", heading=True))
    body.append(text("Escalations go up from a team to the team above it.", size="small"))
    if not view.lines:
        body.append(text("Add me to the teams first: I can only arrange teams I'm part of."))
        return card(body)
    for line in view.lines[:MAX_TREE_LINES]:
        indent = "→ " * line.depth
        body.append(text(f"{indent}{escape_markdown(line.team_name)}", spacing="small"))
    if len(view.lines) > MAX_TREE_LINES:
        body.append(more_line(MAX_TREE_LINES, len(view.lines), "teams"))
    if len(view.teams) > MAX_TREE_CHOICES:
        note = f"With {len(view.teams)} teams, arrange them with `impact-bot teams parent`."
        body.append(text(note, size="small"))
        return card(body)
    body += [
        {"type": "Input.ChoiceSet", "id": "team", "label": "Team", "style": "compact",
         "isRequired": True, "errorMessage": "Choose a team.", "placeholder": "Choose a team",
         "choices": _choices(view.teams)},
        {"type": "Input.ChoiceSet", "id": "parent", "label": "Team above it", "style": "compact",
         "value": "none",
         "choices": [{"title": "None (a top team)", "value": "none"}, *_choices(view.teams)]},
    ]  # fmt: skip
    return card(body, [execute("Save", "team_parent_save", {}, style="positive")])
