"""The self-assessment's cards in each of their shapes: every question, fresh and chosen and
shown again after Back; every way a question card settles; the review, all answered and mostly
skipped; the profile, in and out of a round and with too few answers; and the short notes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

from assessment.rules import Back, ChooseLevel, RecordedAnswer, Refusal, Skip, Snapshot, Status
from bot.cards import assessment as cards
from bot.cards import common
from bot.cards.assessment_views import (
    ActionRef,
    ConfirmRestartView,
    NoticeView,
    ProfileLine,
    SettledView,
    WelcomeView,
)
from bot.dialogs.assessment import HELP, REFUSAL_NOTES, RESUME, START
from bot.dialogs.assessment_screens import CONTINUED, OUT_OF_DATE, SET_ASIDE, Screens, Words
from bot.dialogs.huddles.board import IN_A_CHANNEL, NOT_INSTALLED
from bot.router import PERSONAL_ONLY_CARD
from framework.reading import reading_minutes
from framework.scoring import ENOUGH_ANSWERS_RULE
from huddles.services.capture import NO_ROSTER, NOT_IN_TEAM
from rounds.rules.access import REFUSED
from store.assessments.round_info import RoundTiming
from tests.bot.cards.rendering.card_fixture import FRAMEWORK, LONG_COMMENT, CardFixture
from tests.bot.cards.test_cards import profile_view, question_view, review_view

SCREENS = Screens(FRAMEWORK, UTC, 1000)
N = FRAMEWORK.question_count
NAMES = tuple(c.name for c in FRAMEWORK.components)
# The question whose level descriptors are longest: the biggest question card.
LONGEST = max(FRAMEWORK.questions, key=lambda q: sum(len(d.text) for d in q.levels)).number


def assessment_fixtures() -> Iterator[CardFixture]:
    yield from _questions()
    yield from _settled()
    yield from _review()
    yield from _profiles()
    yield from _welcome_and_help()
    yield from _notices()


def _questions() -> Iterator[CardFixture]:
    for question in FRAMEWORK.questions:
        yield CardFixture(f"question {question.number:02d}", cards.question_card,
                          (question_view(question.number),))  # fmt: skip
    stale = REFUSAL_NOTES[Refusal.STALE]
    yield CardFixture(
        "question, longest, a level just chosen, longest comment and a note",
        cards.question_card,
        (question_view(LONGEST, chosen_level=5, comment=LONG_COMMENT, notice=stale),),
    )
    yield CardFixture(
        "question shown again after Back, with the saved answer",
        cards.question_card,
        (question_view(3, chosen_level=1, chosen_is_saved=True, comment="Weekly huddles."),),
    )


def _settled() -> Iterator[CardFixture]:
    """Each way a question card settles, in the words Screens gives it."""
    saved, skipped = RecordedAnswer(3, LONG_COMMENT), RecordedAnswer(None)
    cases = {
        "saved": (ChooseLevel(3, 3, LONG_COMMENT, 8), {3: saved}),
        "skipped": (Skip(3, 8), {3: skipped}),
        "skipped, answer kept": (Skip(3, 8), {3: saved}),
        "went back": (Back(3, 8), {}),
        "went back, with its answer": (Back(3, 8), {3: saved}),
    }
    for name, (command, answers) in cases.items():
        words = SCREENS.words(command, _snapshot(answers))
        yield CardFixture(f"settled: {name}", cards.settled_card,
                          (_settled_view(3, words, answers),))  # fmt: skip
    already = Words("✓ Already saved.", "Your answer: **Progressing**")
    for name, words in (
        ("already saved", already),
        ("out of date", Words(OUT_OF_DATE)),
        ("continued below", Words(CONTINUED)),
        ("set aside", Words(SET_ASIDE)),
    ):
        yield CardFixture(f"settled: {name}", cards.settled_card,
                          (_settled_view(LONGEST, words, {}),))  # fmt: skip


def _snapshot(answers: dict[int, RecordedAnswer]) -> Snapshot:
    return Snapshot(7, 1, Status.IN_PROGRESS, 4, 9, N, answers)


def _settled_view(number: int, words: Words, answers: dict[int, RecordedAnswer]) -> SettledView:
    recorded = answers.get(number)
    return SettledView(
        FRAMEWORK.component_of(number).name, number, N, FRAMEWORK.question(number).title,
        words.status, words.answer, recorded.comment if recorded and words.answer else None,
    )  # fmt: skip


def _review() -> Iterator[CardFixture]:
    yield CardFixture("review, all answered with comments", cards.review_card, (review_view(),))
    full = review_view()
    sections = tuple(
        replace(s, rows=tuple(replace(r, level_name=None, comment=None) for r in s.rows[1:])
                + s.rows[:1])
        for s in full.sections
    )  # fmt: skip
    mostly_skipped = REFUSAL_NOTES[Refusal.MOSTLY_SKIPPED].format(skipped=17, total=N)
    yield CardFixture(
        "review, mostly skipped, asking to confirm",
        cards.review_card,
        (replace(full, answered=5, skipped=17, sections=sections, notice=mostly_skipped,
                 confirm_submit=True),),
    )  # fmt: skip
    for name, status in (
        ("submitted", f"✓ Submitted ({N} of {N} answered)."),
        ("change", "✓ You chose to change question 14."),
        ("back", f"✓ You went back to question {N}."),
        ("continued below", CONTINUED),
        ("set aside", SET_ASIDE),
    ):
        yield CardFixture(f"review settled: {name}", cards.review_settled_card, (status,))


def _profiles() -> Iterator[CardFixture]:
    full = profile_view()
    yield CardFixture("profile, in an open round, with a note", cards.profile_card,
                      (replace(full, notice="✓ Your answers were submitted."),))  # fmt: skip
    closes = datetime(2026, 12, 11, 17, tzinfo=UTC)
    closed = SCREENS.next_steps(RoundTiming("Winter 2026", "closed", closes, closes))
    yield CardFixture("profile, round closed", cards.profile_card,
                      (replace(full, next_steps=closed, reopen=None),))  # fmt: skip
    thin = ProfileLine("Overall", "Not enough answers", 4, N, enough=False)
    lines = tuple(
        replace(line, level_label="Not enough answers", answered=1, enough=False, meaning=None,
                meaning_source=None) if i % 2 else line
        for i, line in enumerate(full.components)
    )  # fmt: skip
    yield CardFixture(
        "profile, too few answers, no first name, on its own",
        cards.profile_card,
        (replace(full, person_first_name="", components=lines, overall=thin,
                 enough_rule=ENOUGH_ANSWERS_RULE, next_steps=SCREENS.next_steps(None),
                 reopen=None),),
    )  # fmt: skip


def _welcome_and_help() -> Iterator[CardFixture]:
    minutes = reading_minutes(FRAMEWORK)
    yield CardFixture("welcome", cards.welcome_card,
                      (WelcomeView(FRAMEWORK.title, N, NAMES, minutes),))  # fmt: skip
    yield CardFixture("welcome back, in progress", cards.welcome_card,
                      (WelcomeView(FRAMEWORK.title, N, NAMES, minutes, answered=9),))  # fmt: skip
    yield CardFixture("confirm restart", cards.confirm_restart_card,
                      (ConfirmRestartView(ActionRef(41, 9), 9, N),))  # fmt: skip
    yield CardFixture("confirm restart after submitting", cards.confirm_restart_card,
                      (ConfirmRestartView(ActionRef(41, 9), 20, N, submitted=True),))  # fmt: skip
    yield CardFixture("help", cards.help_card, (N,))
    yield CardFixture("help, in progress", cards.help_card, (N,), {"in_progress": True})


def _notices() -> Iterator[CardFixture]:
    for name, note in _notice_views():
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


def _notice_views() -> Iterator[tuple[str, NoticeView]]:
    """The notes the dialogs send, the longest and those with the most buttons."""
    yield (
        "status",
        NoticeView(
            f"You have answered 9 of {N} and skipped 4; you are on question 14 of {N}.", (RESUME,)
        ),
    )
    yield (
        "paused",
        NoticeView(
            "Paused. Your answers so far are saved: tap Resume when you are ready.", (RESUME,)
        ),
    )
    yield (
        "not understood",
        NoticeView(
            "Sorry, I didn't understand “what happens to my answers after the…”.", (START, HELP)
        ),
    )
    yield (
        "refused, about another assessment",
        NoticeView(f"ⓘ {REFUSAL_NOTES[Refusal.NOT_YOURS]}", (START, HELP)),
    )
    yield "acknowledged", NoticeView("✓ You have already submitted: your profile is below.")
    yield "out of date", NoticeView(OUT_OF_DATE)
    yield "refused (rounds)", NoticeView(f"ⓘ {REFUSED}")
    yield "huddles: not in a channel", NoticeView(f"ⓘ {IN_A_CHANNEL}")
    yield "huddles: not installed", NoticeView(f"ⓘ {NOT_INSTALLED}")
    yield "huddles: no roster", NoticeView(f"ⓘ {NO_ROSTER}")
    team = "Emergency Department, Paediatric Emergency Care"
    yield "huddles: not in the team", NoticeView(f"ⓘ {NOT_IN_TEAM.format(team=team)}")
