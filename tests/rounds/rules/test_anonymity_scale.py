"""The anonymity decision at scale (rounds.rules.anonymity), against the algorithm it replaced and
an exact attacker.

The incremental algorithm must make exactly the decisions the old one made (a copy of which is kept
in benchmarks/anonymity_scale.py): on random rounds of up to seven overlapping teams with role
groups, under every order of suppression, and on synthetic trusts. Its decisions must leave nothing
an exact attacker (any rational combination of the shown figures,
tests.rounds.rules.anonymity_attacker) can use to single out fewer than min_size people. And at a
trust's size (300 teams, 15,000 people) the decision is checked as completely as is cheap: no small
atom anywhere (which rules out every combination), the exact attacker on the whole of it, nothing
hidden needlessly. No timings here: those belong to the benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.anonymity_scale import (
    MIN_COMMENT_GROUP,
    MIN_GROUP,
    decide_comments_old,
    decide_old,
    synthetic_trust,
)
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
from tests.rounds.rules.anonymity_attacker import exact_leak, people_by_atom, rank
from tests.rounds.rules.test_anonymity import leak

# Pure, but they enumerate every case: `make test` runs them, `make test-fast` does not.
pytestmark = [pytest.mark.unit, pytest.mark.exhaustive]

ROLES = ["leaders", "frontline", "support", None]

respondent_keys = st.tuples(st.frozensets(st.integers(1, 7), max_size=3), st.sampled_from(ROLES))
rounds_of_teams = st.dictionaries(respondent_keys, st.integers(0, 14), max_size=16)


def shown_groups(decisions: Mapping[GroupId, Disclosure]) -> set[GroupId]:
    return {g for g, d in decisions.items() if d.shown}


# --------------------------------------------------------------------------------------------
# The exact attacker itself
# --------------------------------------------------------------------------------------------


def test_rank_over_the_rationals() -> None:
    assert rank([]) == 0
    assert rank([[0, 0]]) == 0
    assert rank([[1, 1, 0], [0, 1, 1], [1, 0, -1]]) == 2  # the third is the first minus the second
    assert rank([[1, 1, 0], [0, 1, 1], [1, 0, 1]]) == 3  # 1 - 1 + 1 = 2 is not 0 over Q
    assert rank([[2, 4], [3, 6]]) == 1


def test_the_exact_attacker_on_known_cases() -> None:
    a, b = team(1), team(2)
    # One person in two teams: the round minus both teams singles them out.
    cells = cells_for_round(
        {(frozenset({1}), None): 5, (frozenset({2}), None): 5, (frozenset({1, 2}), None): 1}
    )
    assert exact_leak(cells, {ROUND, a, b}, 5) == [frozenset({ROUND, a, b})]
    assert exact_leak(cells, {a, b}, 5) is None  # without the round: A - B is 10 people
    # Two overlapping teams, all atoms small, yet nothing derivable from A and B alone.
    cells = cells_for_round(
        {(frozenset({1}), None): 1, (frozenset({2}), None): 4, (frozenset({1, 2}), None): 4}
    )
    assert exact_leak(cells, {a, b}, 5) is None
    assert exact_leak(cells, {ROUND, a, b}, 5) is not None


@settings(max_examples=200, deadline=None)
@given(rounds_of_teams, st.integers(2, 6), st.data())
def test_the_exact_attacker_finds_whatever_weights_of_one_find(
    respondents: dict[tuple[frozenset[int], str | None], int], min_size: int, data: st.DataObject
) -> None:
    cells = cells_for_round(respondents)
    groups = sorted(group_sizes(cells), key=GroupId.sort_key)
    shown = data.draw(st.sets(st.sampled_from(groups), max_size=6) if groups else st.just(set()))
    if leak(cells, shown, min_size) is not None:
        assert exact_leak(cells, shown, min_size) is not None
    if not small_atoms(cells, shown, min_size):
        assert exact_leak(cells, shown, min_size) is None  # the atom rule is safe


@settings(max_examples=300, deadline=None)
@given(rounds_of_teams, st.integers(2, 6), st.data())
def test_the_reduced_attacker_agrees_with_the_plain_one(
    respondents: dict[tuple[frozenset[int], str | None], int], min_size: int, data: st.DataObject
) -> None:
    """Setting aside the atoms in the span of the large ones changes no answer."""
    cells = cells_for_round(respondents)
    groups = sorted(group_sizes(cells), key=GroupId.sort_key)
    shown = data.draw(st.sets(st.sampled_from(groups)) if groups else st.just(set()))
    plain = exact_leak(cells, shown, min_size, reduced=False)
    reduced = exact_leak(cells, shown, min_size, reduced=True)
    assert (plain is None) == (reduced is None)
    if reduced is not None:  # a leak it reports is one: a light set whose removal lowers rank
        assert sum(people_by_atom(cells, shown)[atom] for atom in reduced) < min_size


# --------------------------------------------------------------------------------------------
# The same decisions as before the rewrite
# --------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    rounds_of_teams,
    st.integers(1, 7),
    st.permutations(["role", "round", "team"]),
    st.sets(st.integers(1, 8), max_size=3),
)
def test_the_same_decisions_as_the_old_algorithm(
    respondents: dict[tuple[frozenset[int], str | None], int],
    min_size: int,
    suppress_first: list[str],
    empty_teams: set[int],
) -> None:
    cells = cells_for_round(respondents)
    groups = [team(t) for t in empty_teams] + [role(t, "leaders") for t in empty_teams]
    order: tuple[str, ...] = tuple(suppress_first)
    new = decide(cells, min_size=min_size, groups=groups, suppress_first=order)  # type: ignore[arg-type]
    assert new == decide_old(cells, min_size=min_size, groups=groups, suppress_first=order)
    by_teams = {teams: n for (teams, _), n in respondents.items()}
    assert decide_comments(by_teams, min_size=min_size) == decide_comments_old(
        by_teams, min_size=min_size
    )


@pytest.mark.parametrize("teams", [20, 40])
def test_the_same_decisions_as_the_old_algorithm_for_a_synthetic_trust(teams: int) -> None:
    trust = synthetic_trust(teams)
    cells, groups = trust.figure_inputs()
    assert decide(cells, min_size=MIN_GROUP, groups=groups) == decide_old(
        cells, min_size=MIN_GROUP, groups=groups
    )
    by_teams = trust.comment_inputs()
    assert decide_comments(
        by_teams, min_size=MIN_COMMENT_GROUP, teams=trust.teams
    ) == decide_comments_old(by_teams, min_size=MIN_COMMENT_GROUP, teams=trust.teams)


# --------------------------------------------------------------------------------------------
# Nothing derivable, by the exact attacker
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rounds_of_teams, st.integers(2, 6))
def test_no_combination_of_shown_figures_singles_anyone_out(
    respondents: dict[tuple[frozenset[int], str | None], int], min_size: int
) -> None:
    cells = cells_for_round(respondents)
    shown = shown_groups(decide(cells, min_size=min_size))
    assert exact_leak(cells, shown, min_size) is None


# --------------------------------------------------------------------------------------------
# A trust: 300 teams, 15,000 people, a tenth of them in two teams
# --------------------------------------------------------------------------------------------


def test_a_trust_of_300_teams() -> None:
    trust = synthetic_trust(300)
    cells, groups = trust.figure_inputs()
    decisions = decide(cells, min_size=MIN_GROUP, groups=groups)
    sizes = group_sizes(cells)
    shown = shown_groups(decisions)
    assert set(decisions) == set(groups)
    for group, decision in decisions.items():
        assert decision.n == sizes[group]
        assert decision.shown <= (decision.n >= MIN_GROUP)
        assert (decision.reason is Reason.TOO_FEW) == (decision.n < MIN_GROUP)
        if group.kind == "role":
            assert decision.shown <= (team(group.team or 0) in shown)
            assert (decision.reason is Reason.TEAM_HIDDEN) <= (team(group.team or 0) not in shown)
    assert sum(team(t) in shown for t in trust.teams) > 0

    # No small atom among all the shown groups: no combination of them, whatever its weights,
    # can single out fewer than MIN_GROUP people (module docstring, rule 3).
    assert not small_atoms(cells, shown, MIN_GROUP)

    # Nothing hidden by subtraction could have been put back on its own.
    for group, decision in decisions.items():
        if decision.reason is Reason.SUBTRACTION:
            assert small_atoms(cells, shown | {group}, MIN_GROUP), group

    # And the exact attacker, on the whole trust: nothing for it to try (every atom is large).
    assert exact_leak(cells, shown, MIN_GROUP) is None

    # Comments: teams only, their own threshold.
    comments = decide_comments(
        trust.comment_inputs(), min_size=MIN_COMMENT_GROUP, teams=trust.teams
    )
    comment_cells = {
        frozenset(team(t) for t in teams): n for teams, n in trust.comment_inputs().items()
    }
    shown_comments = {team(t) for t, d in comments.items() if d.shown}
    assert not small_atoms(comment_cells, shown_comments, MIN_COMMENT_GROUP)
    assert all(d.n >= MIN_COMMENT_GROUP for d in comments.values() if d.shown)


def test_people_in_no_team_and_teams_of_every_size() -> None:
    """Odd shapes at some scale: people on the roster in no team, tiny and huge teams, people in
    three teams; the decision must still leave no small atom, with the old algorithm's result."""
    rng = random.Random(7)
    respondents: dict[tuple[frozenset[int], str | None], int] = {}
    for _ in range(400):
        teams = frozenset(rng.sample(range(1, 41), rng.choice([0, 1, 1, 1, 2, 3])))
        key = (teams, rng.choice(ROLES))
        respondents[key] = respondents.get(key, 0) + rng.choice([1, 1, 2, 3, 8, 20])
    cells = cells_for_round(respondents)
    for min_size in (3, 5, 10):
        decisions = decide(cells, min_size=min_size)
        assert decisions == decide_old(cells, min_size=min_size)
        assert not small_atoms(cells, shown_groups(decisions), min_size)
