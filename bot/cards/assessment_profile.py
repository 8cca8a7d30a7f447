"""The person's own profile, once they submit: a line per component (its level, what that level
means in the seed's own words, its guidance one tap away), the overall level, and what happens
next."""

from __future__ import annotations

from bot.cards.assessment_views import ActionRef, ProfileLine, ProfileView
from bot.cards.common import (
    Card,
    Element,
    bullets,
    card,
    escape_markdown,
    execute,
    notice,
    plain,
    show_card,
    text,
)

PRACTICE = "What this looks like in practice"


def profile_card(view: ProfileView) -> Card:
    body: list[Element] = []
    if view.notice:
        body.append(notice(view.notice))
    first_name = escape_markdown(view.person_first_name)
    greeting = f"Thank you, {first_name}" if first_name else "Thank you"
    body += [
        text(greeting, size="medium", weight="bolder", heading=True),
        text(
            f"Your answers were submitted on {view.submitted_on}. This is your own profile: "
            "only you can see your individual answers."
        ),
    ]
    for line in view.components:
        body += _component(line)
    overall = view.overall
    body.append(
        text(
            f"Overall: **{overall.level_label}** ({overall.answered} of {overall.of} answered)",
            spacing="large",
        )
    )
    notes = [
        "Levels run Starting, Developing, Progressing, Spreading, Improving and sustaining. "
        "Where your answers sit between two levels, both are shown."
    ]
    if view.enough_rule and not all(line.enough for line in (*view.components, overall)):
        notes.append(view.enough_rule)
    body.append(text(" ".join(notes), size="small", subtle=True))
    if view.next_steps:
        body.append(text(f"**What happens next.** {view.next_steps}", spacing="medium"))
    if view.reopen is None:
        return card(body)
    return card(body, [_change(view.reopen)])


def _component(line: ProfileLine) -> list[Element]:
    elements: list[Element] = [
        text(line.name, weight="bolder", spacing="medium"),
        {
            **text(f"**{line.level_label}** ({line.answered} of {line.of} answered)"),
            "spacing": "none",
        },
    ]
    if line.meaning:
        source = f" ({line.meaning_source})" if line.meaning_source else ""
        quote = plain(f"“{line.meaning}”{source}", subtle=True)  # the seed's words, verbatim
        elements.append({**quote, "spacing": "none"})
    if line.practice:
        guidance = show_card(PRACTICE, [text(line.name, weight="bolder"), *bullets(line.practice)])
        elements.append({"type": "ActionSet", "spacing": "small", "actions": [guidance]})
    return elements


def _change(ref: ActionRef) -> Element:
    data = {"aid": ref.assessment_id, "rev": ref.token}
    return execute("Change my answers", "reopen", data, inputs="none")
