"""The linear rule, ``decide(..., rule="linear")``: groups the atom rule hides are put back where
no linear combination of the shown figures can single anyone out.

Its safety rests on a short proof (in rounds.rules.anonymity.decide's docstring); here it is checked
against the exact attacker (tests.rounds.rules.anonymity_attacker: every rational combination of the
shown figures), which must find nothing in what the linear rule shows: on random rounds, in every
case that the exhaustive tests of the atom rule enumerate (tests.rounds.rules.test_anonymity), where
the brute-force attacker of those tests must find nothing either, and on a whole trust of 300 teams.
The linear rule must also show everything the atom rule shows.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.anonymity_scale import MIN_GROUP, synthetic_trust
from rounds.rules.anonymity import (
    ROUND,
    Disclosure,
    GroupId,
    Reason,
    cells_for_round,
    decide,
    group_sizes,
    small_atoms,
    team,
)
from tests.rounds.rules.anonymity_attacker import exact_leak
from tests.rounds.rules.test_anonymity import ROLE_GROUPS, A, B, C, leak, one_team

# Pure, but they enumerate every case: `make test` runs them, `make test-fast` does not.
pytestmark = [pytest.mark.unit, pytest.mark.exhaustive]

Cells = Mapping[frozenset[GroupId], int]

respondent_keys = st.tuples(
    st.frozensets(st.integers(1, 7), max_size=3),
    st.sampled_from(["leaders", "frontline", "support", None]),
)


def shown_groups(decisions: Mapping[GroupId, Disclosure]) -> set[GroupId]:
    return {g for g, d in decisions.items() if d.shown}


def check_linear(
    cells: Cells, min_size: int, groups: list[GroupId] | None = None, *, brute_force: bool = True
) -> tuple[dict[GroupId, Disclosure], dict[GroupId, Disclosure]]:
    """The linear decision's invariants; returns it with the atom rule's decision."""
    atoms = decide(cells, min_size=min_size, groups=groups or ())
    linear = decide(cells, min_size=min_size, groups=groups or (), rule="linear")
    assert set(linear) == set(atoms)
    sizes = group_sizes(cells)
    shown = shown_groups(linear)
    assert shown >= shown_groups(atoms), "the linear rule shows all the atom rule shows"
    for group, decision in linear.items():
        assert decision.n == sizes[group]
        assert (decision.reason is Reason.TOO_FEW) == (decision.n < min_size), group
        if group.kind == "role":
            assert decision.shown <= (team(group.team or 0) in shown), "role groups follow"
            assert (decision.reason is Reason.TEAM_HIDDEN) <= (team(group.team or 0) not in shown)
        if decision.reason is Reason.SUBTRACTION:  # hidden with its team, or by subtraction
            assert atoms[group].reason in (Reason.SUBTRACTION, Reason.TEAM_HIDDEN)
    if shown != shown_groups(atoms):  # else the atom rule's own tests cover it
        assert exact_leak(cells, shown, min_size) is None, (dict(cells), shown)
        if brute_force and len(shown) <= 8:
            assert leak(cells, shown, min_size) is None, (dict(cells), shown)
    return linear, atoms


def reasons(decisions: Mapping[GroupId, Disclosure]) -> dict[str, Reason | None]:
    return {str(g): d.reason for g, d in decisions.items()}


# --------------------------------------------------------------------------------------------
# Known cases
# --------------------------------------------------------------------------------------------


def test_two_overlapping_teams_without_the_round() -> None:
    """1 only in A, 4 only in B, 4 in both: every atom is small, so the atom rule hides B, but
    A and B alone single nobody out (A - B is 5 people); with the round, round - B would be the
    one person only in A, so the round stays hidden."""
    cells = cells_for_round(
        {(frozenset({1}), None): 1, (frozenset({2}), None): 4, (frozenset({1, 2}), None): 4}
    )
    linear, atoms = check_linear(cells, 5)
    assert reasons(atoms)["team 2"] is Reason.SUBTRACTION
    assert reasons(linear) == {"round": Reason.SUBTRACTION, "team 1": None, "team 2": None}
    assert exact_leak(cells, {ROUND, A, B}, 5) is not None


def test_a_few_people_in_two_teams_among_many() -> None:
    """Three teams of 20, one person in each pair of them, and 30 people in no team: the atom
    rule must hide teams (each shared person is an atom of one), the linear rule shows all."""
    cells = cells_for_round(
        {
            (frozenset({1}), None): 20,
            (frozenset({2}), None): 20,
            (frozenset({3}), None): 20,
            (frozenset({1, 2}), None): 1,
            (frozenset({2, 3}), None): 1,
            (frozenset({1, 3}), None): 1,
            (frozenset(), None): 30,
        }
    )
    linear, atoms = check_linear(cells, 5)
    assert sum(d.reason is Reason.SUBTRACTION for d in atoms.values()) >= 2
    assert shown_groups(linear) == {ROUND, A, B, C}


def test_what_is_derivable_stays_hidden() -> None:
    """The familiar cases hide the same under either rule: team minus a role group, a lone
    hidden role group, the round minus the teams, a team nested in another."""
    for leaders, frontline, support, unstated in [(9, 3, 0, 0), (3, 12, 5, 0), (0, 12, 5, 2)]:
        linear, atoms = check_linear(one_team(leaders, frontline, support, unstated), 5)
        assert linear == atoms
    round_of_three = cells_for_round(
        {(frozenset({1}), None): 4, (frozenset({2}), None): 12, (frozenset({3}), None): 7}
    )
    assert check_linear(round_of_three, 5)[0][ROUND].reason is Reason.SUBTRACTION
    nested = cells_for_round({(frozenset({1, 2}), None): 6, (frozenset({2}), None): 2})
    linear, atoms = check_linear(nested, 5)
    assert linear == atoms


def test_unknown_rule() -> None:
    with pytest.raises(ValueError, match="rule"):
        decide({}, min_size=5, rule="exact")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The exhaustive cases of the atom rule's tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("min_size", [3, 5])
def test_every_team_of_up_to_nine_per_role_group(min_size: int) -> None:
    for counts in itertools.product(range(10), repeat=4):
        check_linear(one_team(*counts), min_size, [ROUND, A, *ROLE_GROUPS])


def test_every_pair_of_teams_with_overlap_and_people_in_no_team() -> None:
    for only_a, only_b, both, neither in itertools.product(range(8), repeat=4):
        cells = cells_for_round(
            {
                (frozenset({1}), None): only_a,
                (frozenset({2}), None): only_b,
                (frozenset({1, 2}), None): both,
                (frozenset(), None): neither,
            }
        )
        check_linear(cells, 5, [A, B])


def test_every_three_teams_with_every_overlap() -> None:
    regions = [frozenset(s) for n in (1, 2, 3) for s in itertools.combinations((1, 2, 3), n)]
    for counts in itertools.product(range(4), repeat=len(regions)):
        cells = cells_for_round(
            {(region, None): n for region, n in zip(regions, counts, strict=True)}
        )
        check_linear(cells, 4, [A, B, C], brute_force=False)


# --------------------------------------------------------------------------------------------
# Random rounds, and a trust
# --------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(respondent_keys, st.integers(0, 14), max_size=16), st.integers(2, 7))
def test_any_round_of_teams_and_role_groups(
    respondents: dict[tuple[frozenset[int], str | None], int], min_size: int
) -> None:
    check_linear(cells_for_round(respondents), min_size)


def test_a_trust_of_300_teams() -> None:
    """The whole trust, checked by the exact attacker (it has no sets to try here: every atom
    falls in the span of the large ones, so nothing at all is derivable)."""
    trust = synthetic_trust(300)
    cells, groups = trust.figure_inputs()
    linear, atoms = check_linear(cells, MIN_GROUP, groups, brute_force=False)
    shown = shown_groups(linear)
    assert small_atoms(cells, shown, MIN_GROUP), "shows what the atom rule cannot"
    hidden_teams = [g for g, d in linear.items() if g.kind == "team" and d.suppressed]
    assert len(hidden_teams) < sum(1 for d in atoms.values() if d.suppressed) // 4


def test_people_in_no_team_and_teams_of_every_size() -> None:
    rng = random.Random(7)
    respondents: dict[tuple[frozenset[int], str | None], int] = {}
    for _ in range(400):
        teams = frozenset(rng.sample(range(1, 41), rng.choice([0, 1, 1, 1, 2, 3])))
        key = (teams, rng.choice(["leaders", "frontline", "support", None]))
        respondents[key] = respondents.get(key, 0) + rng.choice([1, 1, 2, 3, 8, 20])
    cells = cells_for_round(respondents)
    for min_size in (3, 5, 10):
        check_linear(cells, min_size, brute_force=False)
