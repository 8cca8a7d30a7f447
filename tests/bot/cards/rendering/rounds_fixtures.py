"""Assessment rounds' cards: the invitation and its nudge, the role question, the improvement
team's rounds and new-round form, a team's summary (shown, hidden, with the huddle evidence
beside question 18) and full results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from bot.cards.rounds import admin
from bot.cards.rounds.full_results import export_link_card, full_results_card, progress_card
from bot.cards.rounds.invitation import invitation_card, role_card
from bot.cards.rounds.messages import RoundCards
from bot.cards.rounds.summary import summary_card
from framework.reading import reading_minutes
from rounds.rules.roles import ROLES
from rounds.rules.summary import evidence_facts, summary_view
from rounds.rules.views import InvitationView, TeamProgress
from tests.bot.cards.rendering.card_fixture import CHART_URL, FRAMEWORK, LONG_COMMENT, CardFixture
from tests.bot.cards.test_summary import autumn_with_everything, flat, make_results

CLOSES = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
# What huddles.rules.digest.q18_evidence says beside question 18.
Q18 = ((18, "Held 11 of 12 scheduled huddles in the last quarter"),)


def rounds_fixtures() -> Iterator[CardFixture]:
    yield from _invitations()
    yield from _admin()
    yield from _results()


def _invitations() -> Iterator[CardFixture]:
    minutes = reading_minutes(FRAMEWORK)
    teams = ("Ward 7", "Emergency Department, Paediatric Emergency Care")
    invitation = InvitationView(3, "Winter 2026", teams, "Friday 11 December", 22, minutes)
    nudge = InvitationView(3, "Winter 2026", ("Ward 7",), "Friday 11 December", 22, minutes,
                           nudge=True)  # fmt: skip
    yield CardFixture("invitation", invitation_card, (invitation,))
    yield CardFixture("nudge", invitation_card, (nudge,))
    yield CardFixture("invitation (outbox message)", RoundCards.invitation,
                      (RoundCards(), invitation))  # fmt: skip
    yield CardFixture("role question", role_card, (3, "Winter 2026", ROLES))
    yield CardFixture("role question with a note", role_card,
                      (3, "Winter 2026", ROLES, "Choose one, or Prefer not to say."))  # fmt: skip


def _admin() -> Iterator[CardFixture]:
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


def _results() -> Iterator[CardFixture]:
    results = autumn_with_everything()
    alt = "Bar chart of the median level per component"
    shown = summary_view(results, 1, FRAMEWORK, chart_url=CHART_URL, chart_alt=alt, evidence=Q18)
    hidden_results = make_results({"Ward 8": (7, [(None, flat(3))] * 4)})
    hidden = summary_view(hidden_results, 1, FRAMEWORK, chart_url=None, evidence=Q18)
    yield CardFixture("summary, with huddle evidence", summary_card, (shown,))
    yield CardFixture("summary, too few responses, with huddle evidence", summary_card, (hidden,))
    plain = summary_view(hidden_results, 1, FRAMEWORK, chart_url=None)
    yield CardFixture("summary, too few responses", summary_card, (plain,))
    yield CardFixture("summary (outbox message)", RoundCards.summary, (RoundCards(), shown))
    commented = make_results(
        {"Ward 7": (20, [(None, flat(3))] * 12)},
        comments={"Ward 7": [LONG_COMMENT[:300], "**not markdown** [link](http://x)"] * 6},
    )
    evidence = evidence_facts(FRAMEWORK, Q18)
    yield CardFixture("full results, with huddle evidence", full_results_card,
                      (commented, 1, FRAMEWORK),
                      {"can_export": True, "evidence": evidence})  # fmt: skip
    yield CardFixture("full results, hidden", full_results_card, (hidden_results, 1, FRAMEWORK),
                      {"evidence": evidence})  # fmt: skip
    opened = TeamProgress(3, "Winter 2026", "open", CLOSES, "Ward 7", 14, 31)
    yield CardFixture("results while open: counts only", progress_card,
                      (opened, "Friday 11 December at 09:00"))  # fmt: skip
    cancelled = TeamProgress(3, "Winter 2026", "cancelled", CLOSES, "Ward 7", 0, 0)
    yield CardFixture("results of a cancelled round", progress_card, (cancelled, "-"))
    yield CardFixture(
        "export link",
        export_link_card,
        ("Winter 2026", "xlsx", "https://impact.example.nhs.uk/exports/abc", 15),
    )
