"""The self-assessment's cards: pure functions from view models (assessment_views) to JSON.

A question card is read on a phone, so it puts first what people choose between: the level
names stand out (bold, first, on their own line) above their verbatim descriptors, and each
level is itself what is tapped to choose it; Next records the choice. The component's guidance
opens from the top of the card, just below its button.
"""

from __future__ import annotations

from bot.cards.assessment_profile import profile_card
from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    LevelChoice,
    NoticeView,
    QuestionView,
    ReviewRow,
    ReviewView,
    SettledView,
    WelcomeView,
)
from bot.cards.common import (
    Card,
    Element,
    bullets,
    card,
    execute,
    notice,
    plain,
    show_card,
    text,
)

__all__ = [
    "CHANGE_INPUT",
    "COMMENT_INPUT",
    "confirm_restart_card",
    "help_card",
    "notice_card",
    "profile_card",
    "question_card",
    "review_card",
    "review_settled_card",
    "round_notice_card",
    "settled_card",
    "welcome_card",
]

COMMENT_INPUT = "comment"
CHANGE_INPUT = "change_q"
PRACTICE = "What this looks like in practice"
UNCHOSEN, CHOSEN = "○", "●"


def _ids(ref: ActionRef, **extra: int) -> dict[str, int]:
    return {"aid": ref.assessment_id, "rev": ref.token, **extra}


def _where(component_name: str, number: int, total: int) -> Element:
    return text(f"Question {number} of {total} · {component_name}", size="small", subtle=True)


def practice_button(component_name: str, practice: tuple[str, ...]) -> Element:
    """The component's guidance, one tap away; it opens just below the button."""
    lead = text(
        "How NHS IMPACT describes this across a whole organisation; in your team it may look "
        "different.",
        size="small",
        subtle=True,
    )
    heading = text(component_name, weight="bolder")
    return {
        "type": "ActionSet",
        "spacing": "small",
        "actions": [show_card(PRACTICE, [heading, lead, *bullets(practice)])],
    }


def question_card(view: QuestionView) -> Card:
    body: list[Element] = []
    if view.notice:
        body.append(notice(view.notice))
    body += [
        _where(view.component_name, view.number, view.total),
        text(view.title, size="medium", weight="bolder", heading=True, spacing="small"),
        practice_button(view.component_name, view.practice),
        text("Tap the level that fits best, then Next.", size="small", subtle=True),
        *(_level(view, level) for level in view.levels),
        {
            "type": "Input.Text",
            "id": COMMENT_INPUT,
            "label": "Comment (optional)",
            "placeholder": "Anything you would like to add",
            "isMultiline": True,
            "maxLength": view.comment_max_chars,
            **({"value": view.comment} if view.comment else {}),
        },
    ]
    chosen = {"level": view.chosen_level} if view.chosen_level else {}
    q = view.number
    actions = [execute("Next", "answer", _ids(view.ref, q=q, **chosen), style="positive")]
    if view.can_go_back:
        actions.append(execute("Back", "back", _ids(view.ref, q=q), inputs="none"))
    actions.append(execute("Skip", "skip", _ids(view.ref, q=q), inputs="none"))
    return card(body, actions, speak=f"Question {view.number} of {view.total}. {view.title}")


def level_title(level: LevelChoice) -> str:
    """What a level is called when tapped (and read out): its name, then its descriptor."""
    return f"{level.name}: {level.descriptor}"


def _level(view: QuestionView, level: LevelChoice) -> Element:
    """One level: its name in bold on its own line, its descriptor verbatim below; tapping it
    chooses it (the comment typed so far goes with the tap, so nothing typed is lost). The chosen
    one is marked in words and with a filled circle, not by colour alone."""
    chosen = level.value == view.chosen_level
    mark = "your answer" if view.chosen_is_saved else "your choice"
    name = f"{CHOSEN} {level.name} · {mark}" if chosen else f"{UNCHOSEN} {level.name}"
    block: Element = {
        "type": "Container",
        "spacing": "medium",
        # The descriptor as a TextRun: shown verbatim, never read as markdown.
        "items": [text(name, weight="bolder"), {**plain(level.descriptor), "spacing": "none"}],
        "selectAction": execute(
            level_title(level), "choose", _ids(view.ref, q=view.number, level=level.value)
        ),
    }
    if chosen:
        block["style"] = "emphasis"
    return block


def settled_card(view: SettledView) -> Card:
    """What a question card becomes once used: what happened, and no buttons."""
    line = view.status if view.answer is None else f"{view.status} {view.answer}"
    body: list[Element] = [
        _where(view.component_name, view.number, view.total),
        text(view.title, weight="bolder", spacing="small"),
        text(line),
    ]
    if view.comment and view.answer is not None:
        body.append(plain(view.comment, label="Your comment: ", subtle=True))
    return card(body)


def review_card(view: ReviewView) -> Card:
    body: list[Element] = []
    if view.notice:
        body.append(notice(view.notice))
    summary = f"You answered {view.answered} of {view.total} questions"
    summary += f" and skipped {view.skipped}." if view.skipped else "."
    body += [
        text("Check your answers", size="medium", weight="bolder", heading=True),
        text(summary + " You can change any answer before you submit."),
    ]
    for section in view.sections:
        skipped = f"{section.skipped} of {len(section.rows)} skipped" if section.skipped else ""
        heading = f"{section.component_name} · {skipped}" if skipped else section.component_name
        body.append(text(heading, weight="bolder", spacing="medium"))
        for row in section.rows:
            body += _review_row(row)
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": CHANGE_INPUT,
            "label": "Change an answer",
            "style": "compact",
            "placeholder": "Choose a question",
            "choices": [
                {"title": f"{row.number}. {row.title}", "value": str(row.number)}
                for section in view.sections
                for row in section.rows
            ],
        }
    )
    submit = (
        execute(
            "Submit anyway", "submit", {**_ids(view.ref), "confirm": True}, style="positive",
            inputs="none",
        )
        if view.confirm_submit
        else execute("Submit my answers", "submit", _ids(view.ref), style="positive", inputs="none")
    )  # fmt: skip
    actions = [
        submit,
        execute("Change answer", "change", _ids(view.ref)),
        execute("Back", "back", _ids(view.ref, q=view.total + 1), inputs="none"),
    ]
    return card(body, actions)


def _review_row(row: ReviewRow) -> list[Element]:
    answer = row.level_name or "Skipped"
    elements = [text(f"{row.number}. {row.title}: **{answer}**", spacing="small")]
    if row.comment:
        elements.append(
            {**plain(row.comment, label="Your comment: ", subtle=True), "spacing": "none"}
        )
    return elements


def review_settled_card(status: str) -> Card:
    """What the review card becomes once used: what happened, and no buttons."""
    return card([text("Check your answers", weight="bolder"), text(status)])


def welcome_card(view: WelcomeView) -> Card:
    themes = ", ".join(view.component_names)
    fewest, most = view.minutes
    body = [
        text(view.title, size="medium", weight="bolder", heading=True),
        text(
            f"{view.question_count} questions on how we improve, across {len(view.component_names)}"
            f" themes: {themes}. Reading and answering takes about {fewest}–{most} minutes, in as"
            " many sittings as you like."
        ),
        text(
            "Your answers are saved as you go: stop at any time and type **resume** to carry on. "
            "Only you can see your individual answers."
        ),
    ]
    if view.answered:
        body.append(text(f"You have answered {view.answered} so far.", weight="bolder"))
        actions = [execute("Resume", "start", {}, style="positive", inputs="none")]
    else:
        actions = [execute("Start", "start", {}, style="positive", inputs="none")]
    actions.append(execute("Help", "help", {}, inputs="none"))
    return card(body, actions)


def confirm_restart_card(view: ConfirmRestartView) -> Card:
    if view.submitted:
        return card(
            [
                text("Start a new self-assessment?", size="medium", weight="bolder", heading=True),
                text(
                    f"You submitted {view.answered} of {view.total} answers. They stay as they "
                    "are, and so does your profile; a new self-assessment starts from question 1."
                ),
            ],
            [
                execute("Yes, start a new one", "restart", _ids(view.ref), inputs="none"),
                execute("No, keep things as they are", "carry_on", {}, inputs="none"),
            ],
        )
    return card(
        [
            text("Start again?", size="medium", weight="bolder", heading=True),
            text(
                f"You have answered {view.answered} of {view.total}. Starting again sets these "
                "answers aside and begins a new assessment."
            ),
        ],
        [
            execute(
                "Yes, start again", "restart", _ids(view.ref), style="destructive", inputs="none"
            ),
            execute("No, carry on", "carry_on", {}, inputs="none"),
        ],
    )


def notice_card(view: NoticeView) -> Card:
    actions = [execute(title, verb, {}, inputs="none") for verb, title in view.buttons]
    return card([text(view.text)], actions)


def help_card(question_count: int, *, in_progress: bool = False) -> Card:
    commands = [
        ("start", "begin, or carry on where you left off (same as resume)"),
        ("stop", "stop for now (also pause, later); your answers are kept"),
        ("status", "how far you have got"),
        ("restart", "set your answers aside and begin again (asks first)"),
        ("reminders", "when you like to be reminded, e.g. reminders mon-fri 07:00-19:00"),
        ("away until …", "no reminders while you are on leave, e.g. away until 24 December"),
        ("my data", "download everything I store about you"),
        ("forget me", "erase everything I store about you (asks first)"),
        ("help", "this message"),
    ]
    go = "Resume" if in_progress else "Start"
    return card(
        [
            text("What I can do", size="medium", weight="bolder", heading=True),
            text(
                f"I ask the {question_count} NHS IMPACT self-assessment questions one at a time. "
                "On each question tap the level that fits best, then Next; add a comment if you "
                "like; use Back and Skip to move around. You can change any answer before you "
                "submit."
            ),
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": meaning} for name, meaning in commands],
            },
        ],
        [execute(go, "start", {}, style="positive", inputs="none")],
    )


def round_notice_card(message: str, round_id: int, buttons: tuple[tuple[str, str], ...]) -> Card:
    """A short message about a round, whose buttons act on that round."""
    actions = [execute(title, verb, {"round": round_id}, inputs="none") for verb, title in buttons]
    return card([text(message)], actions)
