"""Forms of strategic alignment, for the improvement team: record an aim, a goal, a national
target, a project, or link work to a goal. Each asks the guiding question of its stage of seed
000 (the stage's words come in the view, read from the alignment tool's content).

A form sent back with a problem shows it again with what was typed and a one-line note, so
nothing typed is lost. Choices show people's titles, shortened to `CHOICE_CHARS`; a list longer
than `MAX_CHOICES` shows the first ones and says how to reach the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from alignment.rules.matrix import MAX_TITLE_CHARS
from bot.cards.alignment.parts import plain_notice, runs
from bot.cards.common import Card, Element, card, execute, text

__all__ = [
    "CHOICE_CHARS",
    "MAX_CHOICES",
    "Choice",
    "FormName",
    "FormView",
    "form_card",
    "menu_card",
    "refused_card",
]

FormName = Literal["aim", "goal", "target", "project", "link"]
CHOICE_CHARS = 80
MAX_CHOICES = 100
NO_GOAL = "none"  # the link form's "serves no goal"

MENU = (
    ("aim", "Add a strategic aim"),
    ("goal", "Add a measurable goal"),
    ("target", "Add a national target"),
    ("project", "Add an improvement project"),
    ("link", "Link work to a goal"),
)


@dataclass(frozen=True)
class Choice:
    value: str
    title: str


@dataclass(frozen=True)
class FormView:
    """What a form shows: its stage's words, the choices it offers, what was typed before."""

    form: FormName
    stage_name: str
    stage_description: str
    question: str
    aims: tuple[Choice, ...] = ()
    goals: tuple[Choice, ...] = ()
    teams: tuple[Choice, ...] = ()
    statuses: tuple[Choice, ...] = ()
    work: tuple[Choice, ...] = ()
    values: Mapping[str, str] | None = None
    notice: str | None = None


def menu_card(page: int = 1) -> Card:
    body = [
        text("Record or link", size="medium", weight="bolder", heading=True),
        text("What would you like to record?"),
    ]
    actions = [
        execute(title, "alignment_form", {"form": form, "page": page}, inputs="none")
        for form, title in MENU
    ]
    return card(body, actions)


def refused_card(note: str, typed: Mapping[str, str]) -> Card:
    """A refusal that keeps what was typed, to copy elsewhere."""
    body: list[Element] = [plain_notice(note)]
    if kept := [(name, value) for name, value in typed.items() if value]:
        body.append(text("What you typed:", size="small", subtle=True))
        body += [runs((f"{name}: ", "bolder"), (value, "default")) for name, value in kept]
    return card(body)


# ---- inputs ---------------------------------------------------------------------------------


def _choice(choice: Choice) -> dict[str, str]:
    title = choice.title
    if len(title) > CHOICE_CHARS:
        title = title[: CHOICE_CHARS - 1] + "…"
    return {"title": title, "value": choice.value}


def _text_input(
    view: FormView, name: str, label: str, *, required: bool = False, error: str = ""
) -> Element:
    element: Element = {
        "type": "Input.Text",
        "id": name,
        "label": label,
        "maxLength": MAX_TITLE_CHARS,
        "isRequired": required,
    }
    if error:
        element["errorMessage"] = error
    if value := (view.values or {}).get(name):
        element["value"] = value
    return element


def _choices(
    view: FormView,
    name: str,
    label: str,
    choices: tuple[Choice, ...],
    *,
    required: bool = False,
    multi: bool = False,
    default: str = "",
) -> list[Element]:
    shown = choices[:MAX_CHOICES]
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": name,
        "label": label,
        "style": "compact",
        "isRequired": required,
        "isMultiSelect": multi,
        "choices": [_choice(c) for c in shown],
    }
    if required:
        element["errorMessage"] = f"Choose {label.lower()}."
    value = (view.values or {}).get(name) or default
    if value:
        element["value"] = value
    found: list[Element] = [element]
    if len(choices) > len(shown):
        found.append(
            text(
                f"Showing the first {len(shown)} of {len(choices)}: use the command line "
                "(impact-bot) for the others.",
                size="small",
                subtle=True,
            )
        )
    return found


# ---- the forms ------------------------------------------------------------------------------

_HEADINGS: dict[FormName, tuple[str, str]] = {
    "aim": ("New strategic aim", "Record aim"),
    "goal": ("New measurable goal", "Record goal"),
    "target": ("New national target", "Record target"),
    "project": ("New improvement project", "Record project"),
    "link": ("Link work to a goal", "Link"),
}


def _inputs(view: FormView) -> list[Element] | str:
    """The form's inputs, or why it cannot be filled in yet."""
    if view.form == "aim":
        return [
            _text_input(view, "title", view.question, required=True, error="Give the aim a title.")
        ]
    if view.form == "goal":
        if not view.aims:
            return "Record a strategic aim first: a goal tracks an aim."
        return [
            *_choices(view, "aim", "Aim it tracks", view.aims, required=True),
            _text_input(view, "title", "Goal", required=True, error="Give the goal a title."),
            _text_input(view, "measure", view.question),
        ]
    if view.form == "target":
        return [
            _text_input(
                view, "title", view.question, required=True, error="Give the target a title."
            ),
            *_choices(view, "goals", "Goals it bears on", view.goals, multi=True),
        ]
    if view.form == "project":
        return [
            _text_input(view, "title", "Project", required=True, error="Give the project a title."),
            *_choices(view, "team", "Team (optional)", view.teams),
            *_choices(view, "status", "Status", view.statuses, required=True, default="active"),
            {
                "type": "Input.Toggle",
                "id": "lead",
                "label": "Who leads it",
                "title": "I lead this project",
                "valueOn": "true",
                "valueOff": "false",
                "value": (view.values or {}).get("lead") or "false",
            },
            *_choices(view, "goal", "Goal it serves (optional)", view.goals),
        ]
    if not view.work:
        return "There is no improvement work to link yet: add a project first."
    if not view.goals:
        return "Record a measurable goal first: work is linked to a goal."
    goals = (*view.goals, Choice(NO_GOAL, "No goal: it serves none"))
    return [
        *_choices(view, "work", "Improvement work", view.work, required=True),
        *_choices(view, "goal", "Goal it serves", goals, required=True),
    ]


def form_card(view: FormView, *, page: int = 1) -> Card:
    heading, button = _HEADINGS[view.form]
    body: list[Element] = [plain_notice(view.notice)] if view.notice else []
    body += [
        text(heading, size="medium", weight="bolder", heading=True),
        text(f"{view.stage_name}: {view.stage_description}", size="small", subtle=True),
        text(view.question, weight="bolder"),
    ]
    inputs = _inputs(view)
    back = execute("Back to the matrix", "alignment_page", {"page": page}, inputs="none")
    if isinstance(inputs, str):
        body.append(text(inputs))
        return card(body, [back])
    body += inputs
    record = execute(
        button,
        f"alignment_{view.form}_add" if view.form != "link" else "alignment_link",
        {"page": page},
        style="positive",
    )
    return card(body, [record, back])
