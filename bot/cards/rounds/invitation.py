"""Cards for assessment rounds as staff see them: the invitation and the nudge.
Pure functions from view models to card JSON (see bot.cards.common for the rules)."""

from __future__ import annotations

from bot.cards.common import Card, Element, card, escape_markdown, execute, show_card, text
from bot.cards.common import notice as notice_block
from rounds.rules.views import InvitationView


def invitation_card(view: InvitationView) -> Card:
    names = [escape_markdown(name) for name in view.team_names]
    teams = " and ".join(names) if names else "your team"
    round_name = escape_markdown(view.round_name)
    if view.nudge:
        heading = f"A reminder: {round_name}"
        lead = f"{teams} would still like your view. It closes on {view.closes_on}."
    else:
        heading = round_name
        lead = (
            f"{teams} is taking part in the NHS IMPACT self-assessment. "
            f"It closes on {view.closes_on}."
        )
    body = [
        text(heading, size="medium", weight="bolder", heading=True),
        text(lead),
        text(
            f"{view.question_count} questions, about {view.minutes[0]}–{view.minutes[1]} minutes "
            "to read and answer. Stop any time and carry on later. Only you see your individual "
            "answers; teams see results only for groups large enough to keep everyone anonymous."
        ),
    ]
    data = {"round": view.round_id}
    actions = [
        execute("Start", "start", data, style="positive", inputs="none"),
        execute("Remind me later", "snooze", data, inputs="none"),
        execute("Stop reminding me", "optout", data, inputs="none"),
        reminder_times_action(),
    ]
    return card(body, actions)


WEEKDAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
            ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))  # fmt: skip


def reminder_times_action() -> Element:
    """When to be reminded, for shift workers: days and hours in their own Teams time zone."""
    form: list[Element] = [
        text("Remind me on these days, between these times (your Teams time zone)."),
        {
            "type": "Input.ChoiceSet",
            "id": "remind_days",
            "label": "Days",
            "isMultiSelect": True,
            "style": "expanded",
            "value": "mon,tue,wed,thu,fri",
            "choices": [{"title": name, "value": key} for key, name in WEEKDAYS],
        },
        {"type": "Input.Time", "id": "remind_from", "label": "From", "value": "09:00"},
        {
            "type": "Input.Time",
            "id": "remind_to",
            "label": "To (earlier than From: overnight)",
            "value": "17:00",
        },
        {"type": "ActionSet", "actions": [execute("Save reminder times", "reminder_times", {})]},
    ]
    return show_card("Reminder times", form)


def role_card(
    round_id: int, round_name: str, roles: tuple[tuple[str, str], ...], notice: str | None = None
) -> Card:
    body: list[Element] = [notice_block(notice)] if notice else []
    body += [
        text("Before you start: your role", size="medium", weight="bolder", heading=True),
        text(
            f"{escape_markdown(round_name)} compares how leaders and frontline staff see things, "
            "only where both "
            "groups are large enough to keep everyone anonymous. Nobody sees your own answer."
        ),
        {
            "type": "Input.ChoiceSet",
            "id": "role",
            "label": "Which best describes your role?",
            "style": "expanded",
            "wrap": True,
            "isRequired": True,
            "errorMessage": "Choose one, or Prefer not to say.",
            "choices": [{"title": label, "value": key} for key, label in roles]
            + [{"title": "Prefer not to say", "value": "undisclosed"}],
        },
    ]
    return card(body, [execute("Continue", "role", {"round": round_id}, style="positive")])
