"""Which group results may be shown: the anonymity rules in one pure place (no I/O, no SQL).

A *group* is the whole round, a team, or a role group within a team. Its results (distribution,
median, anything derived from answers) may be shown only if no small group of people can be
singled out by them, alone or combined with the other results shown for the same round.

Input: *cells*, the number of people who submitted, keyed by exactly which groups they are in
(someone in two teams as a frontline clinician is in the cell
``{ROUND, team(1), team(2), role(1, "frontline"), role(2, "frontline")}``). Group sizes are sums
of cells. Output: for every group, shown or not, and why not.

The rules, as implemented:

1. **Threshold.** A group with fewer than ``min_size`` submitted responses is not shown
   (``Reason.TOO_FEW``).
2. **Role groups follow their team.** The role groups of a team whose results are not shown are
   not shown either (``Reason.TEAM_HIDDEN``).
3. **No derivable small group** (subtraction protection, as Viva Glint calls it). Every figure is
   a sum over the people of its group, so anyone who sees several groups' results can add and
   subtract them. Whatever they compute is a sum over people with weights that are equal for
   everyone in the same *atom*: the people who belong to exactly the same set of *shown* groups.
   So if every non-empty atom has at least ``min_size`` people, no combination of shown results
   can single out fewer than ``min_size`` people, and that is the condition enforced. While some
   atom is small, one more group is suppressed (``Reason.SUBTRACTION``): preferably one whose
   hiding merges the small atom into another atom (or takes it out of every shown group); role
   groups first, then the whole round, then teams; the smallest first. Afterwards every group
   suppressed this way is put back if the results stay safe without hiding it, most valuable
   first (teams, the round, role groups), so nothing is hidden that need not be.

   The atom condition is exact for a team and its (disjoint) role groups, and for disjoint teams
   under the round. Where teams overlap it can hide more than strictly necessary (two
   overlapping teams with no round total shown may be safe even with small atoms), never less.

Within one team, whose role groups are disjoint, rule 3 includes the familiar pair of rules:

* a role group whose complement within the team (team n − group n) is 1..min−1 is suppressed
  (the team minus the group would show the rest);
* if exactly one role group is suppressed while the team is shown, the next-smallest one is
  suppressed as well (the team minus all the shown role groups would show the hidden one).

It goes further where those two are not enough: people who gave no role count in the team's
remainder (team − shown role groups), so a lone hidden role group plus five or more people with
no role is *not* derivable and nothing more is hidden; nested or overlapping teams (team B
containing most of team A) are covered; and the whole round is a group too, so when one team
falls below the threshold, the round total (which minus the shown teams would give that team)
is suppressed rather than another team's own results.

Comments use the same rules with teams only and ``min_comment_group_size``
(:func:`decide_comments`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = [
    "ROUND",
    "SUPPRESS_FIRST",
    "Disclosure",
    "GroupId",
    "Reason",
    "atoms",
    "cells_for_round",
    "decide",
    "decide_comments",
    "group_sizes",
    "role",
    "small_atoms",
    "team",
]

GroupKind = Literal["round", "team", "role"]


class Reason(StrEnum):
    """Why a figure is not shown."""

    TOO_FEW = "too_few"
    """The group has fewer submitted responses than the threshold."""
    SUBTRACTION = "subtraction"
    """Shown together with the other results it would let a small group be worked out."""
    TEAM_HIDDEN = "team_hidden"
    """A role group of a team whose results are not shown."""
    TOO_FEW_ANSWERS = "too_few_answers"
    """The group is shown, but too few of its people answered this question (they skipped)."""


@dataclass(frozen=True)
class GroupId:
    """The whole round, a team (by teams.id), or a role group within a team."""

    kind: GroupKind
    team: int | None = None
    role: str | None = None

    def sort_key(self) -> tuple[str, int, str]:
        return (self.kind, -1 if self.team is None else self.team, self.role or "")

    def __str__(self) -> str:
        if self.kind == "round":
            return "round"
        if self.kind == "team":
            return f"team {self.team}"
        return f"team {self.team} {self.role}"


ROUND = GroupId("round")


def team(team_id: int) -> GroupId:
    return GroupId("team", team_id)


def role(team_id: int, role_group: str) -> GroupId:
    return GroupId("role", team_id, role_group)


@dataclass(frozen=True)
class Disclosure:
    """The decision for one group: its size, and whether its results may be shown."""

    n: int
    reason: Reason | None = None

    @property
    def shown(self) -> bool:
        return self.reason is None

    @property
    def suppressed(self) -> bool:
        return self.reason is not None


Cells = Mapping[frozenset[GroupId], int]

# Which kind of group to suppress first when a small group would otherwise be derivable.
SUPPRESS_FIRST: tuple[GroupKind, ...] = ("role", "round", "team")


def cells_for_round(
    respondents: Mapping[tuple[frozenset[int], str | None], int],
) -> dict[frozenset[GroupId], int]:
    """Cells from respondent counts keyed by (their teams, their role group or None).

    Everyone is in the whole round; in each of their teams; and, if they gave a role, in that
    role group within each of their teams.
    """
    cells: Counter[frozenset[GroupId]] = Counter()
    for (team_ids, role_group), count in respondents.items():
        if count < 0:
            raise ValueError(f"negative count {count} for {sorted(team_ids)}, {role_group}")
        members = {ROUND, *(team(t) for t in team_ids)}
        if role_group is not None:
            members.update(role(t, role_group) for t in team_ids)
        cells[frozenset(members)] += count
    return dict(cells)


def group_sizes(cells: Cells) -> Counter[GroupId]:
    sizes: Counter[GroupId] = Counter()
    for members, count in cells.items():
        for group in members:
            sizes[group] += count
    return sizes


def atoms(cells: Cells, shown: Iterable[GroupId]) -> Counter[frozenset[GroupId]]:
    """People grouped by exactly which shown groups they are in (people in none are left out:
    no shown figure includes them)."""
    visible = frozenset(shown)
    result: Counter[frozenset[GroupId]] = Counter()
    for members, count in cells.items():
        signature = members & visible
        if signature and count:
            result[signature] += count
    return result


def small_atoms(
    cells: Cells, shown: Iterable[GroupId], min_size: int
) -> list[tuple[frozenset[GroupId], int]]:
    """Atoms with 1..min_size-1 people: groups that the shown results would let someone derive."""
    found = [(sig, n) for sig, n in atoms(cells, shown).items() if 0 < n < min_size]
    return sorted(found, key=lambda item: (item[1], sorted(g.sort_key() for g in item[0])))


def _without_hidden_teams(shown: set[GroupId]) -> set[GroupId]:
    """Rule 2: a role group is shown only with its team."""
    return {g for g in shown if g.kind != "role" or team(g.team or 0) in shown}


def decide(
    cells: Cells,
    *,
    min_size: int,
    groups: Iterable[GroupId] = (),
    suppress_first: Sequence[GroupKind] = SUPPRESS_FIRST,
) -> dict[GroupId, Disclosure]:
    """Decide, for every group in `cells` (and in `groups`, which may have nobody), whether its
    results may be shown. See the module docstring for the rules."""
    if min_size < 1:
        raise ValueError("min_size must be at least 1")
    sizes = group_sizes(cells)
    every = set(sizes) | set(groups)
    rank = {kind: i for i, kind in enumerate(suppress_first)}

    def order(group: GroupId) -> tuple[int, int, tuple[str, int, str]]:
        return (rank.get(group.kind, len(rank)), sizes[group], group.sort_key())

    too_few = {g for g in every if sizes[g] < min_size}
    shown = _without_hidden_teams(every - too_few)

    def safe(candidate: set[GroupId]) -> bool:
        return not small_atoms(cells, candidate, min_size)

    # Suppress until no small group is derivable.
    while True:
        small = small_atoms(cells, shown, min_size)
        if not small:
            break
        signature, _ = small[0]
        present = atoms(cells, shown)
        # Hiding a group (a team takes its role groups with it) resolves the small atom when the
        # atom then falls into another one, or out of every shown group.
        resolving = set()
        for group in shown:
            hidden = shown - _without_hidden_teams(shown - {group})
            if signature <= hidden or any(
                other != signature and (signature ^ other) <= hidden for other in present
            ):
                resolving.add(group)
        # Otherwise hide one of its own groups, or one that is all that separates a neighbouring
        # atom from it, and look again.
        candidates = resolving or set(signature).union(
            *(
                other - signature
                for other in present
                if signature < other and len(other) == 1 + len(signature)
            )
        )
        victim = min(candidates, key=order)
        shown = _without_hidden_teams(shown - {victim})

    # Put back what is not needed, most valuable first (teams, the round, role groups; larger
    # groups first); role groups hidden with their team get their chance once it is back.
    changed = True
    while changed:
        changed = False
        for group in sorted(
            every - too_few - shown,
            key=lambda g: (-rank.get(g.kind, 0), -sizes[g], g.sort_key()),
        ):
            trial = _without_hidden_teams(shown | {group})
            if group in trial and safe(trial):
                shown = trial
                changed = True

    decisions: dict[GroupId, Disclosure] = {}
    for group in every:
        if group in shown:
            reason = None
        elif group in too_few:
            reason = Reason.TOO_FEW
        elif group.kind == "role" and team(group.team or 0) not in shown:
            reason = Reason.TEAM_HIDDEN
        else:
            reason = Reason.SUBTRACTION
        decisions[group] = Disclosure(n=sizes[group], reason=reason)
    return decisions


def decide_comments(
    respondents_by_teams: Mapping[frozenset[int], int],
    *,
    min_size: int,
    teams: Iterable[int] = (),
) -> dict[int, Disclosure]:
    """Which teams' comments may be shown: the same rules over teams alone (comments are listed
    per team, never per role or for the whole round), with the comment threshold."""
    cells: Counter[frozenset[GroupId]] = Counter()
    for team_ids, count in respondents_by_teams.items():
        cells[frozenset(team(t) for t in team_ids)] += count
    decisions = decide(cells, min_size=min_size, groups=[team(t) for t in teams])
    return {g.team: d for g, d in decisions.items() if g.kind == "team" and g.team is not None}
