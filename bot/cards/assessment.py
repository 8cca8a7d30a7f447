"""The self-assessment's cards: pure functions from view models (assessment_views) to JSON."""

from __future__ import annotations

from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    NoticeView,
    ProfileView,
    QuestionView,
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

LEVEL_INPUT = "level"
COMMENT_INPUT = "comment"
CHANGE_INPUT = "change_q"


def _ids(ref: ActionRef, **extra: int) -> dict[str, int]:
    return {"aid": ref.assessment_id, "rev": ref.token, **extra}


def _where(component_name: str, number: int, total: int) -> Element:
    return text(f"Question {number} of {total} · {component_name}", size="small", subtle=True)


def question_card(view: QuestionView) -> Card:
    body: list[Element] = []
    if view.notice:
        body.append(notice(view.notice))
    body += [
        _where(view.component_name, view.number, view.total),
        text(view.title, size="medium", weight="bolder", heading=True, spacing="small"),
        {
            "type": "Input.ChoiceSet",
            "id": LEVEL_INPUT,
            "label": "Which best describes where you are now?",
            "style": "expanded",
            "wrap": True,
            "isRequired": True,
            "errorMessage": "Choose the level that fits best, or tap Skip.",
            "choices": [
                {"title": f"{level.name}: {level.descriptor}", "value": str(level.value)}
                for level in view.levels
            ],
            **({"value": str(view.selected_level)} if view.selected_level else {}),
        },
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
    actions = [execute("Next", "answer", _ids(view.ref, q=view.number), style="positive")]
    if view.can_go_back:
        actions.append(execute("Back", "back", _ids(view.ref, q=view.number), inputs="none"))
    actions.append(execute("Skip", "skip", _ids(view.ref, q=view.number), inputs="none"))
    actions.append(
        show_card(
            "What this looks like in practice",
            [text(view.component_name, weight="bolder"), *bullets(view.practice)],
        )
    )
    return card(body, actions, speak=f"Question {view.number} of {view.total}. {view.title}")


def settled_card(view: SettledView) -> Card:
    """What a question card becomes once used: the recorded answer, no buttons."""
    answer = view.level_name or "Skipped"
    body: list[Element] = [
        _where(view.component_name, view.number, view.total),
        text(view.title, weight="bolder", spacing="small"),
        text(f"✓ {view.status_line}. Your answer: **{answer}**"),
    ]
    if view.comment:
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
        body.append(text(section.component_name, weight="bolder", spacing="medium"))
        for row in section.rows:
            answer = row.level_name or "Skipped"
            body.append(text(f"{row.number}. {row.title}: **{answer}**", spacing="small"))
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
    actions = [
        execute("Submit my answers", "submit", _ids(view.ref), style="positive", inputs="none"),
        execute("Change answer", "change", _ids(view.ref)),
        execute("Back", "back", _ids(view.ref, q=view.total + 1), inputs="none"),
    ]
    return card(body, actions)


def review_settled_card(total: int, answered: int, status_line: str) -> Card:
    return card(
        [
            text("Check your answers", weight="bolder"),
            text(f"✓ {status_line} ({answered} of {total} answered)."),
        ]
    )


def profile_card(view: ProfileView) -> Card:
    body: list[Element] = []
    if view.notice:
        body.append(notice(view.notice))
    greeting = f"Thank you, {view.person_first_name}" if view.person_first_name else "Thank you"
    body += [
        text(greeting, size="medium", weight="bolder", heading=True),
        text(
            f"Your answers were submitted on {view.submitted_on}. This is your own profile: "
            "only you can see your individual answers."
        ),
    ]
    facts = [
        {"title": line.name, "value": f"**{line.level_label}** ({line.answered} of {line.of})"}
        for line in view.components
    ]
    body.append({"type": "FactSet", "facts": facts})
    overall = view.overall
    body.append(
        text(
            f"Overall: **{overall.level_label}** ({overall.answered} of {overall.of} answered)",
            spacing="medium",
        )
    )
    body.append(
        text(
            "Levels run Starting, Developing, Progressing, Spreading, Improving and sustaining. "
            "Where your answers sit between two levels, both are shown.",
            size="small",
            subtle=True,
        )
    )
    if view.reopen is None:
        return card(body)
    change = execute("Change my answers", "reopen", _ids(view.reopen), inputs="none")
    return card(body, [change])


def welcome_card(view: WelcomeView) -> Card:
    themes = ", ".join(view.component_names)
    body = [
        text(view.title, size="medium", weight="bolder", heading=True),
        text(
            f"{view.question_count} questions on how we improve, across {len(view.component_names)}"
            f" themes: {themes}. It takes about {view.minutes} minutes."
        ),
        text(
            "Your answers are saved as you go: stop at any time and type **resume** to carry on. "
            "Only you can see your individual answers."
        ),
    ]
    if view.in_progress:
        body.append(text(f"You have answered {view.answered} so far.", weight="bolder"))
        actions = [execute("Resume", "start", {}, style="positive", inputs="none")]
    else:
        actions = [execute("Start", "start", {}, style="positive", inputs="none")]
    actions.append(execute("Help", "help", {}, inputs="none"))
    return card(body, actions)


def confirm_restart_card(view: ConfirmRestartView) -> Card:
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
            execute("No, carry on", "start", {}, inputs="none"),
        ],
    )


def notice_card(view: NoticeView) -> Card:
    actions = [execute(title, verb, {}, inputs="none") for verb, title in view.buttons]
    return card([text(view.text)], actions)


def help_card(question_count: int) -> Card:
    commands = [
        ("start", "begin, or carry on where you left off (same as resume)"),
        ("status", "how far you have got"),
        ("restart", "set your answers aside and begin again (asks first)"),
        ("reminders", "when you like to be reminded, e.g. reminders mon-fri 07:00-19:00"),
        ("away until …", "no reminders while you are on leave, e.g. away until 24 December"),
        ("help", "this message"),
    ]
    return card(
        [
            text("What I can do", size="medium", weight="bolder", heading=True),
            text(
                f"I ask the {question_count} NHS IMPACT self-assessment questions one at a time. "
                "On each question choose the level that fits best; add a comment if you like; "
                "use Back and Skip to move around. You can change any answer before you submit."
            ),
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": meaning} for name, meaning in commands],
            },
        ],
        [execute("Start", "start", {}, style="positive", inputs="none")],
    )


def round_notice_card(message: str, round_id: int, buttons: tuple[tuple[str, str], ...]) -> Card:
    """A short message about a round, whose buttons act on that round."""
    actions = [execute(title, verb, {"round": round_id}, inputs="none") for verb, title in buttons]
    return card([text(message)], actions)
