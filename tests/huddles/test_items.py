"""What comes out of a huddle (huddles.rules.items): text, idea transitions, actions and their
nudge, escalations and the team cascade. Pure, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddles.rules.items import (
    MAX_TEXT_CHARS,
    Action,
    CascadeError,
    EscalationStatus,
    IdeaCommand,
    IdeaState,
    IdeaStatus,
    ItemError,
    Refusal,
    Resolution,
    action_nudge_due,
    ancestors,
    check_text,
    clean_text,
    escalation_level,
    is_overdue,
    resolve_escalation,
    transition,
    where_escalation_shows,
    would_create_cycle,
)
from rounds.rules.schedule import NudgeWindow

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
WORKING = NudgeWindow.default(LONDON)  # Mon–Fri 09:00–17:00, not on bank holidays


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


# ---- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  Order more gloves  ", "Order more gloves"),
        ("Two\nlines\r\nhere", "Two lines here"),
        ("tab\there", "tab here"),
        ("bell\x07 and null\x00 gone", "bell and null gone"),
        ("del\x7fete and \x1b[31mescape", "delete and [31mescape"),
        ("c1\x85next-line", "c1 next-line"),  # NEL is whitespace: one space
        ("emoji 👩‍⚕️ kept", "emoji 👩‍⚕️ kept"),  # the zero-width joiner is a format char
        ("many     spaces", "many spaces"),
    ],
)
def test_clean_text(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


@given(st.text())
def test_clean_text_leaves_no_control_characters_and_is_idempotent(raw: str) -> None:
    cleaned = clean_text(raw)
    assert all(ch >= " " and not 0x7F <= ord(ch) <= 0x9F for ch in cleaned)
    assert cleaned == cleaned.strip()
    assert clean_text(cleaned) == cleaned


def test_check_text_limits_are_one_to_five_hundred_after_cleaning() -> None:
    assert check_text("x" * MAX_TEXT_CHARS) == "x" * MAX_TEXT_CHARS
    assert check_text("  " + "x" * MAX_TEXT_CHARS + "\n") == "x" * MAX_TEXT_CHARS
    with pytest.raises(ItemError, match=r"^The idea is 501 characters long; please keep it to 500"):
        check_text("x" * 501, "idea")
    with pytest.raises(ItemError, match=r"^The idea is empty; please write something\.$"):
        check_text(" \n\t\x00 ", "idea")


# ---- ideas ---------------------------------------------------------------------------------

NEW = IdeaState()
TESTING_1 = IdeaState(IdeaStatus.TESTING, 1)


@pytest.mark.parametrize(
    ("state", "command", "after"),
    [
        (NEW, IdeaCommand.START_CYCLE, IdeaState(IdeaStatus.TESTING, 1)),
        (NEW, IdeaCommand.ADOPT, IdeaState(IdeaStatus.ADOPTED, 0)),
        (NEW, IdeaCommand.NOT_TAKEN_FORWARD, IdeaState(IdeaStatus.NOT_TAKEN_FORWARD, 0)),
        (TESTING_1, IdeaCommand.START_CYCLE, IdeaState(IdeaStatus.TESTING, 2)),
        (IdeaState(IdeaStatus.TESTING, 3), IdeaCommand.ADOPT, IdeaState(IdeaStatus.ADOPTED, 3)),
        (TESTING_1, IdeaCommand.NOT_TAKEN_FORWARD, IdeaState(IdeaStatus.NOT_TAKEN_FORWARD, 1)),
    ],
)
def test_allowed_idea_transitions(state: IdeaState, command: IdeaCommand, after: IdeaState) -> None:
    assert transition(state, command) == after


@pytest.mark.parametrize("final", [IdeaStatus.ADOPTED, IdeaStatus.NOT_TAKEN_FORWARD])
@pytest.mark.parametrize("command", list(IdeaCommand))
def test_adopted_and_not_taken_forward_are_final(final: IdeaStatus, command: IdeaCommand) -> None:
    outcome = transition(IdeaState(final, 2), command)
    assert isinstance(outcome, Refusal)
    assert "can't change now" in outcome.reason
    assert "\n" not in outcome.reason


def test_cycles_count_up_one_per_start() -> None:
    state: IdeaState | Refusal = NEW
    for expected in range(1, 5):
        assert isinstance(state, IdeaState)
        state = transition(state, IdeaCommand.START_CYCLE)
        assert state == IdeaState(IdeaStatus.TESTING, expected)
        assert state.cycle == expected
    assert NEW.cycle is None
    assert IdeaState(IdeaStatus.ADOPTED, 4).cycle is None


@pytest.mark.parametrize(
    ("status", "cycles"),
    [(IdeaStatus.NEW, 1), (IdeaStatus.TESTING, 0), (IdeaStatus.ADOPTED, -1)],
)
def test_impossible_idea_states_are_refused(status: IdeaStatus, cycles: int) -> None:
    with pytest.raises(ValueError, match="cycle"):
        IdeaState(status, cycles)


# ---- actions -------------------------------------------------------------------------------


def test_action_new_cleans_text_and_needs_an_owner() -> None:
    action = Action.new("  Chase\nthe pharmacy  ", " sam ", date(2026, 6, 5))
    assert action == Action("Chase the pharmacy", "sam", date(2026, 6, 5), done=False)
    with pytest.raises(ItemError, match="needs an owner"):
        Action.new("Chase the pharmacy", "  ", date(2026, 6, 5))
    with pytest.raises(ItemError, match="empty"):
        Action.new("\n", "sam", date(2026, 6, 5))
    with pytest.raises(ValueError, match="cleaned first"):
        Action(" untidy ", "sam", date(2026, 6, 5))


def test_overdue_only_after_the_due_date_and_only_when_not_done() -> None:
    action = Action("Chase the pharmacy", "sam", date(2026, 6, 5))
    assert not is_overdue(action, date(2026, 6, 4))
    assert not is_overdue(action, date(2026, 6, 5))  # due today: due, not overdue
    assert is_overdue(action, date(2026, 6, 6))
    assert not is_overdue(
        Action("Chase the pharmacy", "sam", date(2026, 6, 5), True), date(2026, 7, 1)
    )


DUE = date(2026, 6, 5)  # a Friday


@pytest.mark.parametrize(
    ("now", "done", "nudged", "expected"),
    [
        (london(2026, 6, 5, 9, 0), False, False, True),  # the window opens on the due date
        (london(2026, 6, 5, 16, 59), False, False, True),
        (london(2026, 6, 5, 8, 59), False, False, False),  # before the window
        (london(2026, 6, 5, 17, 0), False, False, False),  # the window has closed
        (london(2026, 6, 4, 10, 0), False, False, False),  # the day before
        (london(2026, 6, 8, 10, 0), False, False, False),  # after: overdue, not nudged
        (london(2026, 6, 5, 10, 0), True, False, False),  # done
        (london(2026, 6, 5, 10, 0), False, True, False),  # nudged already: one nudge only
    ],
)
def test_action_nudge_once_on_the_due_date_inside_the_window(
    now: datetime, done: bool, nudged: bool, expected: bool
) -> None:
    assert action_nudge_due(DUE, done, nudged, now.astimezone(UTC), WORKING) is expected


def test_action_nudge_uses_the_owners_zone_and_bank_holidays() -> None:
    # 09:30 in Sydney on the due date is still the day before in London.
    sydney = NudgeWindow.default("Australia/Sydney")
    now = datetime(2026, 6, 5, 9, 30, tzinfo=ZoneInfo("Australia/Sydney"))
    assert action_nudge_due(DUE, False, False, now, sydney)
    assert not action_nudge_due(DUE, False, False, now, WORKING)
    # Due on the late May bank holiday (Monday 25 May 2026): the default window is shut.
    assert not action_nudge_due(date(2026, 5, 25), False, False, london(2026, 5, 25, 10), WORKING)
    every_day = NudgeWindow(frozenset(range(7)), time(7), time(19), LONDON, False)
    assert action_nudge_due(date(2026, 5, 25), False, False, london(2026, 5, 25, 10), every_day)


# ---- escalations ---------------------------------------------------------------------------


def test_resolving_an_escalation_needs_an_outcome_and_a_note() -> None:
    open_ = EscalationStatus.OPEN
    assert resolve_escalation(open_, EscalationStatus.UNBLOCKED, " Estates fixed\nthe door ") == (
        Resolution(EscalationStatus.UNBLOCKED, "Estates fixed the door")
    )
    assert resolve_escalation(open_, EscalationStatus.NOT_POSSIBLE, "No budget") == Resolution(
        EscalationStatus.NOT_POSSIBLE, "No budget"
    )
    refused = [
        resolve_escalation(open_, EscalationStatus.UNBLOCKED, "  "),
        resolve_escalation(open_, EscalationStatus.UNBLOCKED, "x" * 501),
        resolve_escalation(open_, EscalationStatus.OPEN, "still open"),
        resolve_escalation(EscalationStatus.UNBLOCKED, EscalationStatus.NOT_POSSIBLE, "again"),
    ]
    reasons = [r.reason for r in refused if isinstance(r, Refusal)]
    assert len(reasons) == 4
    assert "note is empty" in reasons[0]
    assert "501 characters" in reasons[1]
    assert "unblocked or is not possible" in reasons[2]
    assert "already been resolved" in reasons[3]


# ward-7 → medicine → hospital → trust (top); theatres → surgery (top, no link above)
PARENTS: dict[str, str | None] = {
    "ward-7": "medicine",
    "medicine": "hospital",
    "hospital": "trust",
    "trust": None,
    "theatres": "surgery",
}


def test_ancestors_nearest_first() -> None:
    assert ancestors(PARENTS, "ward-7") == ("medicine", "hospital", "trust")
    assert ancestors(PARENTS, "hospital") == ("trust",)
    assert ancestors(PARENTS, "trust") == ()
    assert ancestors(PARENTS, "theatres") == ("surgery",)  # surgery is not listed: a top team
    assert ancestors(PARENTS, "unknown") == ()


def test_ancestors_refuse_a_loop_in_the_data() -> None:
    with pytest.raises(CascadeError, match="a → b → c → a"):
        ancestors({"a": "b", "b": "c", "c": "a"}, "a")


@pytest.mark.parametrize(
    ("child", "new_parent", "cycle"),
    [
        ("ward-7", "ward-7", True),  # its own parent
        ("hospital", "ward-7", True),  # under its own descendant
        ("trust", "ward-7", True),
        ("medicine", "ward-7", True),
        ("ward-7", "hospital", False),  # moving up the tree is fine
        ("theatres", "medicine", False),
        ("trust", "surgery", False),
        ("new-team", "ward-7", False),
    ],
)
def test_would_create_cycle(child: str, new_parent: str, cycle: bool) -> None:
    assert would_create_cycle(PARENTS, child, new_parent) is cycle


def test_a_link_into_an_existing_loop_is_refused() -> None:
    assert would_create_cycle({"a": "b", "b": "a"}, "x", "a")


@given(
    parents=st.dictionaries(
        st.sampled_from("abcdefg"), st.none() | st.sampled_from("abcdefg"), max_size=7
    ),
    child=st.sampled_from("abcdefg"),
    new_parent=st.sampled_from("abcdefg"),
)
def test_a_link_allowed_by_would_create_cycle_never_makes_a_loop(
    parents: dict[str, str | None], child: str, new_parent: str
) -> None:
    if would_create_cycle(parents, child, new_parent):
        return
    linked = {**parents, child: new_parent}
    chain = ancestors(linked, child)  # raises CascadeError if the links loop
    assert chain[0] == new_parent
    assert child not in chain


RAISED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("open_for", "after_days", "chain_length", "level"),
    [
        (timedelta(0), 3, 3, 0),  # level 0: the raising team's parent
        (timedelta(days=3) - timedelta(seconds=1), 3, 3, 0),
        (timedelta(days=3), 3, 3, 1),  # one full period open: one team up
        (timedelta(days=6), 3, 3, 2),
        (timedelta(days=30), 3, 3, 2),  # capped at the top of the chain
        (timedelta(days=1), 1, 3, 1),
        (timedelta(days=30), 1, 1, 0),  # a chain of one: stays with the parent
        (timedelta(days=30), 1, 0, 0),  # a top team: no chain
        (-timedelta(hours=1), 3, 3, 0),  # a clock behind the record: never negative
    ],
)
def test_escalation_level(
    open_for: timedelta, after_days: int, chain_length: int, level: int
) -> None:
    assert escalation_level(RAISED, RAISED + open_for, after_days, chain_length) == level


def test_escalation_level_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        escalation_level(RAISED, RAISED, 0, 3)
    with pytest.raises(ValueError, match="negative"):
        escalation_level(RAISED, RAISED, 1, -1)
    with pytest.raises(ValueError, match="timezone-aware"):
        escalation_level(datetime(2026, 3, 2, 10), RAISED, 1, 3)


def test_where_escalation_shows_climbs_the_chain() -> None:
    chain = ancestors(PARENTS, "ward-7")
    shows = [
        where_escalation_shows(chain, escalation_level(RAISED, RAISED + timedelta(days=d), 2, 3))
        for d in (0, 1, 2, 4, 5, 40)
    ]
    assert shows == ["medicine", "medicine", "hospital", "trust", "trust", "trust"]
    assert where_escalation_shows(chain, 7) == "trust"
    assert where_escalation_shows((), 0) is None
    with pytest.raises(ValueError, match="negative"):
        where_escalation_shows(chain, -1)
