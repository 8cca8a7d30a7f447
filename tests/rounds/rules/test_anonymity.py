"""The anonymity rules (rounds.rules.anonymity), checked exhaustively against a brute force.

The attacker sees every shown group's figures and adds or subtracts them (every combination with
weights −1, 0 or 1). A leak is a combination whose result depends on 1..min−1 people. For every
small structure enumerated here the decision must leave no leak, and must not hide more than it
needs to: putting back any group hidden by subtraction would make a leak.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rounds.rules.anonymity import (
    ROUND,
    Disclosure,
    GroupId,
    Reason,
    cells_for_round,
    decide,
    decide_comments,
    group_sizes,
    role,
    small_atoms,
    team,
)

pytestmark = pytest.mark.unit

Cells = Mapping[frozenset[GroupId], int]
A, B, C = team(1), team(2), team(3)


def leak(cells: Cells, shown: Iterable[GroupId], min_size: int) -> tuple[int, ...] | None:
    """A combination of shown figures that singles out 1..min_size-1 people, if there is one."""
    groups = sorted(shown, key=GroupId.sort_key)
    rows = [(tuple(g in members for g in groups), n) for members, n in cells.items() if n]
    for weights in itertools.product((-1, 0, 1), repeat=len(groups)):
        support = 0
        for membership, n in rows:
            if sum(w for w, inside in zip(weights, membership, strict=True) if inside):
                support += n
                if support >= min_size:
                    break
        if 0 < support < min_size:
            return weights
    return None


def shown_groups(decisions: Mapping[GroupId, Disclosure]) -> set[GroupId]:
    return {g for g, d in decisions.items() if d.shown}


def check(
    cells: Cells, min_size: int, decisions: Mapping[GroupId, Disclosure], *, exact: bool = False
) -> None:
    """Every invariant of a decision, with the brute-force attacker as the judge of leaks.

    Nothing may be hidden needlessly: putting back any group hidden by subtraction must make a
    small atom (people in exactly the same shown groups); with `exact`, it must make a leak the
    attacker finds. The atom rule is exact for a team and its role groups, and errs on the side
    of hiding where teams overlap (see test_overlapping_teams_are_judged_conservatively)."""
    sizes = group_sizes(cells)
    shown = shown_groups(decisions)
    for group, decision in decisions.items():
        assert decision.n == sizes[group]
        if decision.shown:
            assert decision.n >= min_size, group
        if decision.n < min_size:
            assert decision.reason is Reason.TOO_FEW, group
        if group.kind == "role" and decision.shown:
            assert team(group.team or 0) in shown, "a role group is shown only with its team"
        if decision.reason is Reason.TEAM_HIDDEN:
            assert team(group.team or 0) not in shown
    assert leak(cells, shown, min_size) is None, (dict(cells), shown)
    assert not small_atoms(cells, shown, min_size)
    # Nothing hidden by subtraction could have been shown safely on its own.
    for group, decision in decisions.items():
        if decision.reason is Reason.SUBTRACTION:
            trial = shown | {group}
            if group.kind == "role" and team(group.team or 0) not in shown:
                continue
            assert small_atoms(cells, trial, min_size), f"{group} was hidden needlessly"
            if exact:
                assert leak(cells, trial, min_size) is not None, f"{group} hidden needlessly"


def one_team(
    leaders: int, frontline: int, support: int, unstated: int
) -> dict[frozenset[GroupId], int]:
    return cells_for_round(
        {
            (frozenset({1}), "leaders"): leaders,
            (frozenset({1}), "frontline"): frontline,
            (frozenset({1}), "support"): support,
            (frozenset({1}), None): unstated,
        }
    )


ROLE_GROUPS = [role(1, key) for key in ("leaders", "frontline", "support")]


def decide_team(
    leaders: int, frontline: int, support: int, unstated: int, min_size: int = 5
) -> dict[GroupId, Disclosure]:
    return decide(
        one_team(leaders, frontline, support, unstated),
        min_size=min_size,
        groups=[ROUND, A, *ROLE_GROUPS],
    )


def reasons(decisions: Mapping[GroupId, Disclosure]) -> dict[str, Reason | None]:
    return {str(g): d.reason for g, d in decisions.items()}


# --------------------------------------------------------------------------------------------
# The rules by name
# --------------------------------------------------------------------------------------------


def test_threshold() -> None:
    assert decide_team(0, 4, 0, 0)[A].reason is Reason.TOO_FEW
    assert decide_team(0, 5, 0, 0)[A].shown
    # A role group that is the whole team shows nothing the team does not: both shown.
    decisions = decide_team(0, 5, 0, 0)
    assert decisions[role(1, "frontline")].shown
    assert decisions[role(1, "leaders")].reason is Reason.TOO_FEW  # nobody: nothing to show


def test_a_role_group_whose_complement_is_small_is_hidden() -> None:
    """Team 12 = 9 leaders + 3 frontline: the team minus the leaders is the 3 frontline."""
    decisions = decide_team(9, 3, 0, 0)
    assert decisions[A].shown
    assert decisions[role(1, "frontline")].reason is Reason.TOO_FEW
    assert decisions[role(1, "leaders")].reason is Reason.SUBTRACTION


def test_a_lone_hidden_role_group_takes_the_next_smallest_with_it() -> None:
    """Team 20 = 3 leaders + 12 frontline + 5 support: the team minus the two shown role groups
    would be the 3 leaders, so the next-smallest group (support, 5) is hidden too."""
    decisions = decide_team(3, 12, 5, 0)
    assert decisions[role(1, "leaders")].reason is Reason.TOO_FEW
    assert decisions[role(1, "support")].reason is Reason.SUBTRACTION
    assert decisions[role(1, "frontline")].shown
    assert decisions[A].shown


def test_people_without_a_role_protect_a_lone_hidden_group() -> None:
    """With 6 who gave no role, team − shown role groups is 3 leaders + 6 others: 9 people,
    nobody singled out, so nothing more is hidden (the literal 'next-smallest' rule would)."""
    decisions = decide_team(3, 12, 5, 6)
    assert decisions[role(1, "support")].shown
    assert decisions[role(1, "frontline")].shown
    assert decisions[role(1, "leaders")].reason is Reason.TOO_FEW


def test_a_few_people_without_a_role_are_protected_like_a_hidden_group() -> None:
    """Team 17 = 12 frontline + 5 support + 0 leaders + 2 who gave no role: the team minus the
    role groups would be those 2."""
    decisions = decide_team(0, 12, 5, 2)
    assert decisions[role(1, "support")].reason is Reason.SUBTRACTION
    assert decisions[role(1, "frontline")].shown


def test_the_round_total_is_hidden_rather_than_another_team() -> None:
    """Teams of 4, 12 and 7: the round total minus the two shown teams would be the team of 4.
    The round total goes; both teams keep their own results."""
    cells = cells_for_round(
        {(frozenset({1}), None): 4, (frozenset({2}), None): 12, (frozenset({3}), None): 7}
    )
    decisions = decide(cells, min_size=5)
    assert reasons(decisions) == {
        "round": Reason.SUBTRACTION,
        "team 1": Reason.TOO_FEW,
        "team 2": None,
        "team 3": None,
    }


def test_one_person_in_two_teams_could_be_singled_out_with_the_round_total() -> None:
    """5 only in A, 5 only in B, 1 in both: round − A − B is minus that one person."""
    cells = cells_for_round(
        {(frozenset({1}), None): 5, (frozenset({2}), None): 5, (frozenset({1, 2}), None): 1}
    )
    assert leak(cells, {ROUND, A, B}, 5) is not None
    decisions = decide(cells, min_size=5)
    check(cells, 5, decisions)
    assert sum(d.reason is Reason.SUBTRACTION for d in decisions.values()) == 1


def test_overlapping_teams_are_judged_conservatively() -> None:
    """1 only in A, 4 only in B, 4 in both. Teams A (5) and B (8) alone would be safe (A − B is
    5 people), but every atom is small, so the rule hides more than the attacker strictly
    needs: a deliberate trade of completeness for a rule that is simple and provably safe."""
    cells = cells_for_round(
        {(frozenset({1}), None): 1, (frozenset({2}), None): 4, (frozenset({1, 2}), None): 4}
    )
    assert leak(cells, {A, B}, 5) is None
    decisions = decide(cells, min_size=5)
    check(cells, 5, decisions)
    assert reasons(decisions) == {
        "round": Reason.SUBTRACTION,
        "team 1": None,
        "team 2": Reason.SUBTRACTION,
    }


def test_a_team_nested_in_a_bigger_one() -> None:
    """Ward (6) inside a division (8): division − ward is 2 people."""
    cells = cells_for_round({(frozenset({1, 2}), "frontline"): 6, (frozenset({2}), "frontline"): 2})
    decisions = decide(cells, min_size=5, groups=[role(1, "frontline"), role(2, "frontline")])
    check(cells, 5, decisions)
    assert decisions[A].reason is Reason.SUBTRACTION
    assert decisions[B].shown
    # The ward's role group goes with the ward (it would be shown only with its team).
    assert decisions[role(1, "frontline")].reason is Reason.TEAM_HIDDEN


def test_comments_use_their_own_threshold_and_subtraction() -> None:
    assert decide_comments({frozenset({1}): 9}, min_size=10)[1].reason is Reason.TOO_FEW
    assert decide_comments({frozenset({1}): 10}, min_size=10)[1].shown
    # A team of 12 containing a team of 10: its comments minus the other's are 2 people's.
    nested = decide_comments({frozenset({1, 2}): 10, frozenset({2}): 2}, min_size=10)
    assert nested[1].reason is Reason.SUBTRACTION
    assert nested[2].shown
    assert decide_comments({}, min_size=10, teams=[7])[7] == Disclosure(0, Reason.TOO_FEW)


def test_the_decision_does_not_depend_on_input_order() -> None:
    items = list(one_team(3, 12, 5, 0).items())
    first = decide(dict(items), min_size=5)
    assert decide(dict(reversed(items)), min_size=5) == first


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_size"):
        decide({}, min_size=0)
    with pytest.raises(ValueError, match="negative"):
        cells_for_round({(frozenset({1}), None): -1})


# --------------------------------------------------------------------------------------------
# Exhaustively
# --------------------------------------------------------------------------------------------


@pytest.mark.exhaustive
@pytest.mark.parametrize("min_size", [3, 5])
def test_every_team_of_up_to_nine_per_role_group(min_size: int) -> None:
    """Leaders, frontline, support and people with no role, each 0..9: 10,000 teams."""
    for leaders, frontline, support, unstated in itertools.product(range(10), repeat=4):
        decisions = decide_team(leaders, frontline, support, unstated, min_size)
        check(one_team(leaders, frontline, support, unstated), min_size, decisions, exact=True)
        shown = shown_groups(decisions)
        total = leaders + frontline + support + unstated
        assert (A in shown) == (total >= min_size)
        if A not in shown:
            continue
        # The two named rules, in their own words.
        shown_roles = [g for g in ROLE_GROUPS if g in shown]
        sizes = {"leaders": leaders, "frontline": frontline, "support": support}
        for group in shown_roles:
            assert not 0 < total - sizes[group.role or ""] < min_size, "complement rule"
        hidden = [g for g in ROLE_GROUPS if g not in shown and sizes[g.role or ""] > 0]
        if unstated == 0:
            assert len(hidden) != 1, "a lone hidden role group would be derivable"
        remainder = total - sum(sizes[g.role or ""] for g in shown_roles)
        assert remainder == 0 or remainder >= min_size


@pytest.mark.exhaustive
def test_every_pair_of_teams_with_overlap_and_people_in_no_team() -> None:
    """Only A, only B, both, neither (on the roster without a team): each 0..7."""
    for only_a, only_b, both, neither in itertools.product(range(8), repeat=4):
        cells = cells_for_round(
            {
                (frozenset({1}), None): only_a,
                (frozenset({2}), None): only_b,
                (frozenset({1, 2}), None): both,
                (frozenset(), None): neither,
            }
        )
        check(cells, 5, decide(cells, min_size=5, groups=[A, B]))


@pytest.mark.exhaustive
def test_every_three_teams_with_every_overlap() -> None:
    """Seven regions of three overlapping teams, each 0..3 people: 16,384 rounds."""
    regions = [frozenset(s) for n in (1, 2, 3) for s in itertools.combinations((1, 2, 3), n)]
    for counts in itertools.product(range(4), repeat=len(regions)):
        cells = cells_for_round(
            {(region, None): n for region, n in zip(regions, counts, strict=True)}
        )
        check(cells, 4, decide(cells, min_size=4, groups=[A, B, C]))


respondent_keys = st.tuples(
    st.frozensets(st.integers(1, 3), max_size=3),
    st.sampled_from(["leaders", "frontline", "support", None]),
)


@pytest.mark.exhaustive
@settings(max_examples=300, deadline=None)
@given(st.dictionaries(respondent_keys, st.integers(0, 12), max_size=8), st.integers(3, 6))
def test_any_round_of_teams_and_role_groups(
    respondents: dict[tuple[frozenset[int], str | None], int], min_size: int
) -> None:
    cells = cells_for_round(respondents)
    decisions = decide(cells, min_size=min_size)
    shown = shown_groups(decisions)
    assert not small_atoms(cells, shown, min_size)
    for decision in decisions.values():
        assert decision.shown <= (decision.n >= min_size)
    if len(shown) <= 7:
        check(cells, min_size, decisions)
