"""Every card the bot can send, built from fixtures: each card builder (every public function in
bot/cards/** that returns a `Card`, and every public method there that returns a `Card` or an
`Activity`) with the inputs that show its shapes, longest texts included.

`card_builders()` finds the builders by looking, so a new feature's cards are found without
anyone listing them, and `test_fixtures.py` fails until this file gives each one a fixture.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bot.cards
from alignment.rules.matrix import build_matrix
from bot.cards import assessment as cards
from bot.cards import common
from bot.cards.alignment.forms import form_card, menu_card, refused_card
from bot.cards.alignment.matrix import matrix_card
from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    NoticeView,
    ProfileLine,
    ProfileView,
    SettledView,
    WelcomeView,
)
from bot.cards.rounds import admin
from bot.cards.rounds.full_results import export_link_card, full_results_card
from bot.cards.rounds.invitation import invitation_card, role_card
from bot.cards.rounds.messages import RoundCards
from bot.cards.rounds.summary import summary_card
from bot.router import PERSONAL_ONLY_CARD
from framework.content import default_alignment_tool, default_framework
from rounds.rules.access import REFUSED
from rounds.rules.roles import ROLES
from rounds.rules.summary import summary_view
from rounds.rules.views import InvitationView
from tests.bot.cards.test_alignment import large_matrix, small_matrix
from tests.bot.cards.test_alignment import view as form_view
from tests.bot.cards.test_cards import question_view, review_view
from tests.bot.cards.test_summary import autumn_with_everything, flat, make_results

Builder = Callable[..., Any]
CARD_RETURNS = frozenset({"Card", "Activity"})
CHART_URL = "https://impact.example.nhs.uk/charts/0123456789abcdef0123456789abcdef.png"
FRAMEWORK = default_framework()
TOOL = default_alignment_tool()
LONG_COMMENT = ("I added this because it matters to the ward. " * 30)[:1000]


@dataclass(frozen=True)
class CardFixture:
    """A card built by calling `builder(*args, **kwargs)`."""

    name: str
    builder: Builder
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> dict[str, Any]:
        built: dict[str, Any] = self.builder(*self.args, **self.kwargs)
        return built


def card_builders() -> dict[str, Builder]:
    """Every public card builder in bot/cards/**, by its qualified name."""
    found: dict[str, Builder] = {}
    for module_info in pkgutil.walk_packages(bot.cards.__path__, "bot.cards."):
        module = importlib.import_module(module_info.name)
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(member) and _returns_a_card(member):
                found[f"{module.__name__}.{name}"] = member
            elif inspect.isclass(member):
                for method_name, method in vars(member).items():
                    public = not method_name.startswith("_") and inspect.isfunction(method)
                    if public and _returns_a_card(method):
                        found[f"{module.__name__}.{name}.{method_name}"] = method
    return found


def _returns_a_card(function: Builder) -> bool:
    annotation = inspect.signature(function).return_annotation
    return isinstance(annotation, str) and annotation in CARD_RETURNS


def qualified(builder: Builder) -> str:
    return f"{builder.__module__}.{builder.__qualname__}"


# ---- the fixtures ---------------------------------------------------------------------------


def _assessment() -> Iterator[CardFixture]:
    for question in FRAMEWORK.questions:
        yield CardFixture(f"question {question.number:02d}", cards.question_card,
                          (question_view(question.number),))  # fmt: skip
    yield CardFixture(
        "question with answer, long comment and a note",
        cards.question_card,
        (question_view(22, selected_level=3, comment=LONG_COMMENT,
                       notice="That card is out of date: this is where you are now."),),
    )  # fmt: skip
    yield CardFixture("settled answer", cards.settled_card, (SettledView(
        FRAMEWORK.component_of(3).name, 3, 22, FRAMEWORK.question(3).title, "Progressing",
        LONG_COMMENT, "Saved"),))  # fmt: skip
    yield CardFixture("settled skip", cards.settled_card, (SettledView(
        FRAMEWORK.component_of(4).name, 4, 22, FRAMEWORK.question(4).title, None, None,
        "Skipped"),))  # fmt: skip
    yield CardFixture("review", cards.review_card, (review_view(),))
    yield CardFixture("review settled", cards.review_settled_card, (22, 21, "Submitted"))
    yield CardFixture("profile", cards.profile_card, (_profile(),))
    yield CardFixture(
        "profile in a round, with a note",
        cards.profile_card,
        (_profile(reopen=ActionRef(41, 9), notice="✓ Your answers were submitted."),),
    )
    names = tuple(c.name for c in FRAMEWORK.components)
    yield CardFixture("welcome", cards.welcome_card,
                      (WelcomeView("NHS IMPACT self-assessment", 22, names),))  # fmt: skip
    yield CardFixture("welcome back", cards.welcome_card,
                      (WelcomeView("NHS IMPACT self-assessment", 22, names, in_progress=True,
                                   answered=9),))  # fmt: skip
    yield CardFixture("confirm restart", cards.confirm_restart_card,
                      (ConfirmRestartView(ActionRef(41, 9), 9, 22),))  # fmt: skip
    yield CardFixture("help", cards.help_card, (22,))
    for name, note in _notices():
        yield CardFixture(f"notice: {name}", cards.notice_card, (note,))
    yield CardFixture(
        "round notice",
        cards.round_notice_card,
        ("OK: I won't remind you about Winter 2026 again.", 3,
         (("start", "Start now"), ("snooze", "Remind me later"))),
    )  # fmt: skip
    yield CardFixture(
        "only in a 1:1 chat",
        common.card,
        (PERSONAL_ONLY_CARD["body"], PERSONAL_ONLY_CARD.get("actions")),
    )


def _profile(**extra: Any) -> ProfileView:
    lines = tuple(ProfileLine(c.name, "Progressing", 4, 4) for c in FRAMEWORK.components)
    overall = ProfileLine("Overall", "Between Progressing and Spreading", 22, 22)
    return ProfileView("Alex", "25 November 2026", lines, overall, **extra)


def _notices() -> Iterator[tuple[str, NoticeView]]:
    yield "resume", NoticeView("You have a self-assessment in progress.", (("start", "Resume"),))
    yield "stale", NoticeView("ⓘ That card is out of date, so nothing was changed.")
    yield "done", NoticeView("✓ Role: Frontline staff. Thank you.")
    yield "refused", NoticeView(f"ⓘ {REFUSED}")
    yield (
        "not understood",
        NoticeView(
            "Sorry, I didn't understand that. Type help to see what I can do.",
            (("start", "Start"), ("help", "Help")),
        ),
    )


def _rounds() -> Iterator[CardFixture]:
    invitation = InvitationView(3, "Winter 2026", ("Ward 7", "Theatres"), "Friday 11 December", 22)
    nudge = InvitationView(3, "Winter 2026", ("Ward 7",), "Friday 11 December", 22, nudge=True)
    yield CardFixture("invitation", invitation_card, (invitation,))
    yield CardFixture("nudge", invitation_card, (nudge,))
    yield CardFixture("invitation (outbox message)", RoundCards.invitation,
                      (RoundCards(), invitation))  # fmt: skip
    yield CardFixture("role question", role_card, (3, "Winter 2026", ROLES))
    yield CardFixture("role question with a note", role_card,
                      (3, "Winter 2026", ROLES, "Choose one, or Prefer not to say."))  # fmt: skip
    lines = (
        admin.RoundLine(3, "Winter 2026", "open", "25 Nov → 9 Dec", "Ward 7, Theatres", 14, 31),
        admin.RoundLine(2, "Autumn 2026", "closed", "1 Sep → 15 Sep", "Ward 7", 18, 20),
        admin.RoundLine(4, "Spring 2027", "scheduled", "1 Mar → 15 Mar", "Ward 7", 0, 0),
    )
    yield CardFixture("rounds", admin.rounds_card, (lines, "✓ Winter 2026 extended a week."))
    yield CardFixture("rounds, none yet", admin.rounds_card, ((),))
    teams = (admin.TeamChoice("19:a", "Ward 7"), admin.TeamChoice("19:b", "Theatres"))
    yield CardFixture("new round", admin.new_round_card, (teams, "2026-11-25", "2026-12-09"))
    yield CardFixture("new round, no teams", admin.new_round_card, ((), "2026-11-25", "x"))
    results = autumn_with_everything()
    shown = summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL,
                         chart_alt="Bar chart of the median level per component")  # fmt: skip
    hidden_results = make_results({"Ward 8": (7, [(None, flat(3))] * 4)})
    hidden = summary_view(hidden_results, 1, FRAMEWORK, chart_url=None)
    yield CardFixture("summary", summary_card, (shown,))
    yield CardFixture("summary, too few responses", summary_card, (hidden,))
    yield CardFixture("summary (outbox message)", RoundCards.summary, (RoundCards(), shown))
    commented = make_results(
        {"Ward 7": (20, [(None, flat(3))] * 12)},
        comments={"Ward 7": [LONG_COMMENT[:300], "**not markdown** [link](http://x)"] * 6},
    )
    yield CardFixture("full results", full_results_card, (commented, 1, FRAMEWORK),
                      {"can_export": True})  # fmt: skip
    yield CardFixture("full results, hidden", full_results_card, (hidden_results, 1, FRAMEWORK))
    yield CardFixture(
        "export link",
        export_link_card,
        ("Winter 2026", "xlsx", "https://impact.example.nhs.uk/exports/abc", 15),
    )


def _alignment() -> Iterator[CardFixture]:
    first = TOOL.stage("strategic-aims").question
    yield CardFixture("matrix", matrix_card, (small_matrix(),))
    yield CardFixture("matrix, empty", matrix_card, (build_matrix([], [], [], []),),
                      {"first_question": first})  # fmt: skip
    yield CardFixture("matrix, largest trust, page 2", matrix_card, (large_matrix(),),
                      {"page": 2, "notice": "✓ Aim 3 recorded."})  # fmt: skip
    yield CardFixture("record or link menu", menu_card, (2,))
    for form in ("aim", "goal", "target", "project", "link"):
        yield CardFixture(f"form: {form}", form_card, (form_view(form),))
    yield CardFixture("form: goal, nothing to track yet", form_card, (form_view("goal", aims=()),))
    yield CardFixture("form: back with a note", form_card, (form_view(
        "project", values={"title": "Low beds", "lead": "true"},
        notice="There is already a project called Low beds."),))  # fmt: skip
    yield CardFixture(
        "refused, keeping what was typed",
        refused_card,
        (REFUSED, {"title": "Fewer falls", "measure": "Falls per 1,000 bed days"}),
    )


def fixtures() -> list[CardFixture]:
    return [*_assessment(), *_rounds(), *_alignment()]
