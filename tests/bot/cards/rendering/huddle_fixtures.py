"""The huddle cards in each of their shapes. The prompt as posted with nothing open, with open
items of every kind (ideas in test, actions overdue and due today, escalations raised below and
waiting above), as people arrive and capture, held or not, and with each form given back filled
in; the lists, full and empty; the notices of an answered escalation; an owner's nudge; the
digests; the schedules, the schedule form (fresh and with a note) and the team tree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from bot.cards.huddles.boards import digest_card, item_list_card, notice_card, nudge_card
from bot.cards.huddles.messages import HuddleCards
from bot.cards.huddles.prompt import prompt_card
from bot.cards.huddles.schedules import schedule_form_card, schedules_card, tree_card
from bot.dialogs.huddles.board import LISTS
from huddles.rules.digest import OpenEscalation, TeamDigest
from huddles.rules.items import MAX_TEXT_CHARS, IdeaStatus
from huddles.rules.views import (
    Choice,
    DigestSection,
    DigestView,
    Draft,
    ItemLine,
    ItemListView,
    Mention,
    NoticeView,
    NudgeView,
    PromptView,
    ScheduleFormView,
    ScheduleLine,
    SchedulesView,
    TreeLine,
    TreeView,
    item_ref,
)
from huddles.services.digests import MOST_QUOTED, MOST_TEAMS, clip, team_facts, team_line
from tests.bot.cards.rendering.card_fixture import CardFixture
from tests.bot.cards.test_huddles import FORMATS, fullest_prompt, prompt

# What people type, at the longest an item may be (huddles.rules.items.MAX_TEXT_CHARS).
LONG = (
    "Patients waiting over four hours for a bed on the ward after the decision to admit; "
    "the discharge lounge closes at six so evening discharges stay in beds. "
)
LONGEST = (LONG * 4)[:MAX_TEXT_CHARS]
WARD = "Ward 7 (Acute Medical Unit)"
LONG_TEAM = "Emergency Department, Paediatric Emergency Care"


def huddle_fixtures() -> Iterator[CardFixture]:
    yield from _prompts()
    yield from _refused_forms()
    yield from _lists()
    yield from _notices()
    yield from _digests()
    yield from _schedules()
    yield from _tree()


# ---- the prompt ------------------------------------------------------------------------------


def idea(n: int, text: str = LONGEST, testing: bool = True) -> ItemLine:
    state = f"Testing · PDSA cycle {n + 1} · Sam Lead" if testing else "New"
    return _item("idea", n, text, state)


def action(n: int, flag: str, due: str, text: str = LONGEST) -> ItemLine:
    return _item("action", n, text, f"Nia Nurse · due {due}", flag)


def escalation(n: int, detail: str, text: str = LONGEST) -> ItemLine:
    return _item("escalation", n, text, detail)


def _item(kind: str, n: int, text: str, detail: str, flag: str = "") -> ItemLine:
    short = text if len(text) <= 60 else text[:59] + "…"
    return ItemLine(item_ref(kind, n, 2), kind, text, detail, flag,
                    f"{kind.capitalize()}: {short}")  # fmt: skip


def open_board(**overrides: Any) -> PromptView:
    """A prompt with open items of every kind: ideas new and in test, actions overdue, due today
    and later, escalations raised by child teams and one of the team's own waiting above."""
    values: dict[str, Any] = {
        "team_name": WARD,
        "ideas": (idea(1), idea(2, "Put the falls board by the nurses' station."),
                  idea(3, "Ask pharmacy to do the TTOs the day before.", testing=False)),
        "actions": (action(1, "Overdue", "Mon 23 Nov"),
                    action(2, "Due today", "Thu 26 Nov", "Order pressure-relieving mattresses."),
                    action(3, "", "Fri 4 Dec", "Book the sim training for the new starters.")),
        "escalations": (escalation(1, f"From {LONG_TEAM} · 3 days"),
                        escalation(2, "From Ward 9 · today", "No porter after 8pm."),
                        escalation(3, "Waiting on Medicine · 12 days")),
    }  # fmt: skip
    return prompt(**(values | overrides))


def _prompts() -> Iterator[CardFixture]:
    posted = prompt(leads=(Mention("29:sam", "Sam Lead"),))
    yield CardFixture("huddle prompt, just posted, nothing open", prompt_card, (posted,))
    yield CardFixture("huddle prompt (outbox message)", HuddleCards.prompt, (HuddleCards(), posted))
    yield CardFixture(
        "huddle prompt, open items, escalations from child teams",
        prompt_card,
        (open_board(more="And 4 more ideas (type ideas), 12 more actions (type actions)."),),
    )
    yield CardFixture(
        "huddle prompt, people here, after a capture",
        prompt_card,
        (open_board(attendance=1, notice="✓ Nia Nurse added an action."),),
    )
    held = open_board(attendance=14, outcome="Held", outcome_note=LONGEST,
                      notice="✓ Sam Lead recorded the huddle as held.")  # fmt: skip
    yield CardFixture("huddle prompt, held, with the lead's notes", prompt_card, (held,))
    not_held = prompt(outcome="Didn't happen", outcome_note="Two sick, the ward was full.")
    yield CardFixture("huddle prompt, didn't happen", prompt_card, (not_held,))
    safety = open_board(format=FORMATS.format("safety"), leads=(), ideas=())
    yield CardFixture("safety huddle prompt, no lead known", prompt_card, (safety,))
    yield CardFixture(
        "huddle prompt, fullest: every list full, longest texts, 101 owners",
        prompt_card,
        (fullest_prompt(),),
    )


def _refused_forms() -> Iterator[CardFixture]:
    """A capture that could not be saved: a note, and the form filled in again."""
    given_back = (
        ("idea", Draft("idea", LONGEST), "That idea is on the board already."),
        ("action", Draft("action", LONGEST, owner="29:3", due="2026-11-20"),
         "That due date has passed; choose today or later. Nothing was added."),
        ("escalation", Draft("escalation", LONGEST),
         "This huddle's format doesn't take escalations. Nothing was added."),
        ("change", Draft("change", note=LONGEST),
         "Choose whether the escalation was unblocked or is not possible."),
        ("outcome", Draft("outcome", note=LONGEST),
         "Say why the huddle didn't happen. Nothing was recorded."),
    )  # fmt: skip
    for kind, draft, note in given_back:
        yield CardFixture(f"huddle prompt, {kind} form given back", prompt_card,
                          (open_board(notice=note, draft=draft),))  # fmt: skip


# ---- lists, notices, nudges, digests -----------------------------------------------------------


def _lists() -> Iterator[CardFixture]:
    ideas = tuple(idea(n, testing=n % 2 == 0) for n in range(12))
    title, empty = LISTS["ideas"]
    tested = "✓ Sam Lead: idea in test, PDSA cycle 2."
    yield CardFixture("open ideas, longest texts, with a note", item_list_card,
                      (ItemListView(WARD, title, ideas, "ideas", empty, tested),))  # fmt: skip
    yield CardFixture("open ideas, none", item_list_card,
                      (ItemListView(WARD, title, (), "ideas", empty),))  # fmt: skip
    title, empty = LISTS["actions"]
    actions = (action(1, "Overdue", "Mon 23 Nov"), action(2, "Due today", "Thu 26 Nov"),
               action(3, "", "Fri 4 Dec", "Book the sim training."))  # fmt: skip
    refused = "This action is done already, so nothing was changed."
    yield CardFixture("open actions, refused change", item_list_card,
                      (ItemListView(WARD, title, actions, "actions", empty, refused),))  # fmt: skip
    yield CardFixture("open actions, none", item_list_card,
                      (ItemListView(WARD, title, (), "actions", empty),))  # fmt: skip


def _notices() -> Iterator[CardFixture]:
    for heading, by in (("Escalation unblocked", "Medicine"),
                        ("Escalation not possible", LONG_TEAM)):  # fmt: skip
        view = NoticeView(
            heading=f"{heading}: {by} replied",
            lines=(f"{WARD} escalated this on Mon 2 Nov.",),
            quoted=(("Escalation: ", LONGEST), ("Their note: ", LONGEST)),
        )
        yield CardFixture(f"huddle notice: {heading.lower()}", notice_card, (view,))
    yield CardFixture("huddle notice (outbox message)", HuddleCards.notice, (HuddleCards(), view))
    nudge = NudgeView(item_ref("action", 3, 1), LONGEST, WARD, "Thu 26 Nov")
    yield CardFixture("action nudge", nudge_card, (nudge,))
    yield CardFixture("action nudge (outbox message)", HuddleCards.nudge, (HuddleCards(), nudge))


def _digests() -> Iterator[CardFixture]:
    lead = _lead_digest(_busy_team(), MOST_QUOTED)
    yield CardFixture("huddle digest for a team's leads", digest_card, (lead,))
    quiet = TeamDigest(START, END, 0, 0, 0, 0, None, dict.fromkeys(IdeaStatus, 0), 0, ())
    yield CardFixture("huddle digest for a team's leads, nothing held", digest_card,
                      (_lead_digest(quiet, 0),))  # fmt: skip
    yield CardFixture("huddle digest (outbox message)", HuddleCards.digest, (HuddleCards(), lead))
    yield CardFixture("huddle digest for the improvement team, the most teams", digest_card,
                      (_improvement_digest(),))  # fmt: skip


START, END = date(2026, 10, 29), date(2026, 11, 26)


def _busy_team() -> TeamDigest:
    ideas = {IdeaStatus.NEW: 4, IdeaStatus.TESTING: 3, IdeaStatus.ADOPTED: 2,
             IdeaStatus.NOT_TAKEN_FORWARD: 1}  # fmt: skip
    raised = datetime(2026, 11, 2, 9, tzinfo=UTC)
    waiting = tuple(OpenEscalation(raised, age, 1) for age in (24, 12, 1, 0))
    return TeamDigest(START, END, 20, 13, 3, 4, 12.5, ideas, 12, waiting)


def _lead_digest(digest: TeamDigest, escalations: int) -> DigestView:
    ages = ("24 days", "12 days", "1 day", "today") * MOST_QUOTED
    quoted = tuple((f"Open {age}: ", clip(LONGEST)) for age in ages[:escalations])
    return DigestView(
        title=f"{WARD}: your huddles this month",
        period="The last four weeks, Thu 29 Oct to Thu 26 Nov",
        sections=(DigestSection("Figures", team_facts(digest), quoted=quoted),),
    )


def _improvement_digest() -> DigestView:
    """As many teams as the digest lists, named as long as trusts name them, most of them not
    holding huddles; and as many escalations at the top of the cascade as it quotes."""
    names = [f"{LONG_TEAM} {n:02d}" for n in range(MOST_TEAMS + 20)]
    quiet = TeamDigest(START, END, 0, 0, 0, 0, None, dict.fromkeys(IdeaStatus, 0), 0, ())
    each = tuple((name, team_line(_busy_team() if n % 3 else quiet))
                 for n, name in enumerate(names[:MOST_TEAMS]))  # fmt: skip
    each += (("And", f"{len(names) - MOST_TEAMS} more teams"),)
    ideas = "new 40, testing 30, adopted 20, not taken forward 10"
    totals = (
        ("Teams holding huddles", f"{MOST_TEAMS // 3 * 2} of {len(names)}"),
        ("Teams with no huddle held", ", ".join(names[::3])),
        ("Huddles held", "1,040 of 1,600"),
        ("Ideas", ideas),
        ("Actions overdue", "960"),
        ("Escalations open", "320"),
    )
    top = tuple((f"{LONG_TEAM} {n:02d} → Executive, {n} days: ", clip(LONGEST))
                for n in range(MOST_QUOTED))  # fmt: skip
    top += (("And 14 more.", ""),)
    return DigestView(
        title="Huddles across the teams",
        period="The last four weeks, Thu 29 Oct to Thu 26 Nov",
        sections=(
            DigestSection("All teams", totals),
            DigestSection("Each team (held of scheduled, here on average)", each),
            DigestSection("Escalations at the top of the cascade", quoted=top),
        ),
    )


# ---- schedules and the team tree --------------------------------------------------------------

NO_LEAD = ("You don't lead a team's huddles here. A team's owners in Teams lead its huddles, and "
           "the improvement team can name other leads.")  # fmt: skip


def schedule_line(n: int, state: str = "Next prompt Thursday 26 November at 08:25") -> ScheduleLine:
    return ScheduleLine(n, "Morning safety huddle at the nurses' station", WARD,
                        "Daily safety huddle", "Mondays to Fridays at 08:30 (Europe/London)",
                        "Huddles and handover", state)  # fmt: skip


def _schedules() -> Iterator[CardFixture]:
    one = (schedule_line(1),)
    yield CardFixture("huddle schedules of a team, in its channel", schedules_card,
                      (SchedulesView(f"Huddles: {WARD}", one, True, team_id="19:w"),))  # fmt: skip
    several = (schedule_line(1), schedule_line(2, "Paused"), schedule_line(3))
    teams = (Choice("19:w", WARD), Choice("19:p", LONG_TEAM))
    yield CardFixture("huddle schedules of several teams, with a note", schedules_card, (
        SchedulesView("Huddles of your teams", several, True, "✓ Morning huddle paused."),
        teams))  # fmt: skip
    yield CardFixture("huddle schedules, none yet", schedules_card,
                      (SchedulesView(f"Huddles: {WARD}", (), True, team_id="19:w"),))  # fmt: skip
    yield CardFixture("huddle schedules, not a lead", schedules_card,
                      (SchedulesView("Huddles of your teams", (), False, NO_LEAD),))  # fmt: skip
    formats = tuple(Choice(f.id, f"{f.name}: {f.description}") for f in FORMATS.formats)
    channels = (Choice("19:w", "General"), Choice("19:h", "Huddles and handover"),
                Choice("19:n", "Night shift"))  # fmt: skip
    fresh = ScheduleFormView((Choice("19:w", WARD),), channels, formats, "Europe/London")
    yield CardFixture("huddle schedule form", schedule_form_card, (fresh,))
    typed = ScheduleFormView(
        (Choice("19:w", WARD),), channels, formats, "Europe/Lundon", days="mon,wed,fri",
        at="07:45", lead_minutes=15, skip_bank_holidays=False,
        notice="“Europe/Lundon” is not a time zone I know, e.g. Europe/London. Nothing was saved.",
        name="Morning safety huddle at the nurses' station", format_id="safety",
    )  # fmt: skip
    yield CardFixture("huddle schedule form, given back with a note", schedule_form_card, (typed,))


def _tree() -> Iterator[CardFixture]:
    tree = (("Executive", 0), ("Medicine", 1), (WARD, 2), ("Ward 9", 2), ("Surgery", 1),
            (LONG_TEAM, 2), ("Theatres", 2), ("Estates and Facilities", 0))  # fmt: skip
    lines = tuple(TreeLine(name, depth) for name, depth in tree)
    teams = tuple(Choice(f"19:{n}", name) for n, (name, _depth) in enumerate(tree))
    yield CardFixture("team tree, with a note", tree_card,
                      (TreeView(lines, teams, "✓ Ward 9 now escalates to Medicine."),))  # fmt: skip
    yield CardFixture("team tree, no teams yet", tree_card, (TreeView((), ()),))
    yield CardFixture("team tree, a trust of 60 teams", tree_card, (_trust_tree(60),))


def _trust_tree(size: int) -> TreeView:
    """An executive team, directorates below it, wards below those: Teams' own ids."""
    names = ["Executive"] + [f"{LONG_TEAM} {n:02d}" for n in range(1, size)]
    depths = [0] + [1 if n % 10 == 1 else 2 for n in range(1, size)]
    ids = [f"19:{n:032x}@thread.tacv2" for n in range(size)]
    return TreeView(
        tuple(TreeLine(name, depth) for name, depth in zip(names, depths, strict=True)),
        tuple(Choice(id_, name) for id_, name in zip(ids, names, strict=True)),
    )
