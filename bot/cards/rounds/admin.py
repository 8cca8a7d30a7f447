"""Cards for the improvement team: the rounds list and the new-round form."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards.common import Card, Element, card, escape_markdown, execute, text


@dataclass(frozen=True)
class RoundLine:
    id: int
    name: str
    status: str
    when: str  # e.g. "25 Nov → 9 Dec"
    teams: str
    submitted: int
    participants: int
    note: str = ""  # e.g. a team whose roster is not read yet (store.rounds.notes)


@dataclass(frozen=True)
class TeamChoice:
    team_id: str
    name: str


def rounds_card(lines: tuple[RoundLine, ...], notice: str | None = None) -> Card:
    body: list[Element] = []
    if notice:
        body.append(text(notice, weight="bolder"))
    body.append(text("Assessment rounds", size="medium", weight="bolder", heading=True))
    if not lines:
        body.append(text("No rounds yet."))
    actions: list[Element] = []
    for line in lines:
        name, teams = escape_markdown(line.name), escape_markdown(line.teams)
        body.append(text(f"**{name}** ({line.status}), {line.when}", spacing="medium"))
        body.append(
            text(
                f"{teams}: {line.submitted} of {line.participants} submitted",
                size="small",
                subtle=True,
                spacing="none",
            )
        )
        if line.note:
            body.append(text(f"⚠ {escape_markdown(line.note)}", size="small", spacing="none"))
    open_lines = [line for line in lines if line.status in ("scheduled", "open")]
    if open_lines:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "round",
                "label": "Round to change",
                "style": "compact",
                "placeholder": "Choose a round",
                "choices": [{"title": line.name, "value": str(line.id)} for line in open_lines],
            }
        )
        actions += [
            execute("Extend a week", "round_extend", {}),
            execute("Close now", "round_close", {}),
            execute("Cancel round", "round_cancel", {}, style="destructive"),
        ]
    actions.append(execute("New round", "round_new", {}, style="positive", inputs="none"))
    return card(body, actions)


def new_round_card(teams: tuple[TeamChoice, ...], today: str, in_two_weeks: str) -> Card:
    if not teams:
        return card(
            [
                text("New round", size="medium", weight="bolder", heading=True),
                text("Add me to the teams first: I can only run rounds in teams I'm part of."),
            ]
        )
    body: list[Element] = [
        text("New round", size="medium", weight="bolder", heading=True),
        {"type": "Input.Text", "id": "name", "label": "Name", "isRequired": True,
         "errorMessage": "Give the round a name.", "maxLength": 200,
         "placeholder": "e.g. Winter 2026"},
        {"type": "Input.ChoiceSet", "id": "teams", "label": "Teams", "isMultiSelect": True,
         "style": "expanded", "isRequired": True, "errorMessage": "Choose at least one team.",
         "choices": [{"title": t.name, "value": t.team_id} for t in teams]},
        {"type": "Input.Date", "id": "opens", "label": "Opens (09:00)", "value": today,
         "isRequired": True, "errorMessage": "Choose the opening date."},
        {"type": "Input.Date", "id": "closes", "label": "Closes (09:00)", "value": in_two_weeks,
         "isRequired": True, "errorMessage": "Choose the closing date."},
        {"type": "Input.Text", "id": "reminders", "label": "Reminders after opening",
         "value": "3d,7d,last-day", "maxLength": 100},
        {"type": "Input.Toggle", "id": "role_question", "label": "Ask people's role",
         "title": "Ask each person's role (for the leaders and frontline comparison)",
         "valueOn": "true", "valueOff": "false", "value": "false"},
        {"type": "Input.ChoiceSet", "id": "repeat", "label": "Repeat", "style": "compact",
         "value": "none", "choices": [
             {"title": "Don't repeat", "value": "none"},
             {"title": "Every 3 months", "value": "3m"},
             {"title": "Every 6 months", "value": "6m"},
             {"title": "Every 12 months", "value": "12m"}]},
    ]  # fmt: skip
    return card(body, [execute("Create round", "round_create", {}, style="positive")])
