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
   With people in two teams it hides a great deal: each pair of teams sharing fewer than
   ``min_size`` people makes a small atom, and one of the two must go (in a synthetic trust of
   300 teams with a tenth of the people in two teams, 207 teams). ``decide(..., rule="linear")``
   then puts back every group that a sufficient test shows cannot be used to single anyone out
   (see :func:`decide`; in that trust, every team); it is not yet what the callers ask for.

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
(:func:`decide_comments`), always with the atom condition: a comment is not a sum, and one that
appears in the lists of teams A and B was written by someone in both.

How it is computed, at a trust's scale (300 teams, 1,200 groups, in a fraction of a second): the
atoms are kept up to date rather than recomputed. Hiding a group moves only the cells of the
people in it (their atoms merge into others), showing one only the cells in it (their atoms
split), so each step costs the size of the groups it touches. The small atoms wait in a heap in
the order they are taken, and the groups whose hiding resolves one are looked up by hash: hiding
a group hides itself or a team's family (the team and its role groups), so only the atoms that
differ from the small one within one family can take it in. Putting a group back is safe exactly
when each atom it touches splits into two parts that are empty or not small, a check over the
people in that group alone (and so is the linear rule's test). Inside, groups are numbered in
their sort order, so that sets of them hash and compare quickly. The decisions are the same as
those of the simple version that recomputes every atom for every trial (kept in
benchmarks/anonymity_scale.py to compare with).
"""

from __future__ import annotations

# Over 500 lines on purpose: the rules, their proof (above and in decide's docstring) and the
# incremental state that applies them are read together when the guarantee is reviewed.
import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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
Rule = Literal["atoms", "linear"]


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


def _family(group: GroupId) -> int | None:
    """The round is a family of its own; a team and its role groups are one family (hiding the
    team hides them all)."""
    return None if group.kind == "round" else group.team


# Inside the computation a group is its number in the order of GroupId.sort_key, so that sets
# of groups hash and compare quickly, and sorting numbers sorts groups.
Signature = frozenset[int]


class _Atoms:
    """The atoms of the shown groups, kept up to date while groups are hidden and shown again.

    Every cell keeps its signature (those of its groups that are shown); an atom is the total of
    the cells with one non-empty signature. Hiding groups moves only the cells in them (their
    atoms merge into others), showing a group only the cells in it (its atoms split), so a step
    costs the size of the groups it touches, not of the whole round.

    While `indexed` (while suppressing), the atoms next to an atom are found by hash rather than
    by a scan over all atoms: ``_by_family[(f, rest)]`` holds the atoms with groups of family f
    whose other groups are `rest`; ``_outside[rest]`` the same for any family; ``_less_one[s]``
    the atoms that are `s` and one more group. Small atoms wait in a heap in the order the
    suppression takes them (smallest, then by their groups); an entry whose atom has since
    changed is skipped.
    """

    def __init__(
        self,
        cells: Iterable[tuple[Signature, int]],
        groups: Sequence[GroupId],
        shown: Iterable[int],
        min_size: int,
    ) -> None:
        self.shown = set(shown)
        self.min_size = min_size
        self.family = [_family(g) for g in groups]
        self.team_number = {g.team: i for i, g in enumerate(groups) if g.kind == "team"}
        self.is_team = [g.kind == "team" for g in groups]
        self.roles_of: dict[int | None, list[int]] = {}
        for i in self.shown:
            if groups[i].kind == "role":
                self.roles_of.setdefault(groups[i].team, []).append(i)
        self.counts: list[int] = []
        self.signature: list[Signature] = []
        self.cells_of: dict[int, list[int]] = {}
        self.atoms: dict[Signature, int] = {}
        self.indexed = True
        self._by_family: dict[tuple[int | None, Signature], set[Signature]] = {}
        self._outside: dict[Signature, set[Signature]] = {}
        self._less_one: dict[Signature, set[Signature]] = {}
        self._families: dict[Signature, tuple[tuple[int | None, Signature], ...]] = {}
        self._small: list[tuple[int, tuple[int, ...], Signature]] = []
        self._small_total = 0  # atoms with 1..min_size-1 people
        visible = frozenset(self.shown)
        for members, count in cells:
            index = len(self.counts)
            self.counts.append(count)
            self.signature.append(members & visible)
            for group in members:
                self.cells_of.setdefault(group, []).append(index)
            self._add(members & visible, count)
        for signature in self.atoms:
            self._push_if_small(signature)

    # Atoms and their indexes

    def _is_small(self, n: int) -> int:
        return 1 if 0 < n < self.min_size else 0

    def _outside_families(self, signature: Signature) -> tuple[tuple[int | None, Signature], ...]:
        """(f, the signature without family f's groups) for every family f in it."""
        found = self._families.get(signature)
        if found is None:
            family = self.family
            found = tuple(
                (f, frozenset(g for g in signature if family[g] != f))
                for f in {family[g] for g in signature}
            )
            self._families[signature] = found
        return found

    def _add(self, signature: Signature, count: int) -> None:
        if not signature:
            return
        before = self.atoms.get(signature, 0)
        self.atoms[signature] = before + count
        self._small_total += self._is_small(before + count) - self._is_small(before)
        if before or not self.indexed:
            return
        for family, rest in self._outside_families(signature):
            self._by_family.setdefault((family, rest), set()).add(signature)
            self._outside.setdefault(rest, set()).add(signature)
        for group in signature:
            self._less_one.setdefault(signature - {group}, set()).add(signature)

    def _remove(self, signature: Signature, count: int) -> None:
        if not signature:
            return
        before = self.atoms[signature]
        self._small_total += self._is_small(before - count) - self._is_small(before)
        if before != count:
            self.atoms[signature] = before - count
            return
        del self.atoms[signature]
        if not self.indexed:
            return
        for family, rest in self._outside_families(signature):
            self._by_family[(family, rest)].discard(signature)
            self._outside[rest].discard(signature)
        for group in signature:
            self._less_one[signature - {group}].discard(signature)

    def _move(self, group: int, new_signature: Callable[[Signature], Signature]) -> None:
        for index in self.cells_of.get(group, ()):
            old = self.signature[index]
            new = new_signature(old)
            if new == old:  # a cell in several of the groups hidden at once: moved already
                continue
            self.signature[index] = new
            self._remove(old, self.counts[index])
            self._add(new, self.counts[index])
            if self.indexed:
                self._push_if_small(new)

    # Suppressing

    def _push_if_small(self, signature: Signature) -> None:
        n = self.atoms.get(signature, 0)
        if 0 < n < self.min_size:
            heapq.heappush(self._small, (n, tuple(sorted(signature)), signature))

    def first_small(self) -> Signature | None:
        """The smallest small atom (then by its groups), as small_atoms() would list first."""
        while self._small:
            n, _, signature = self._small[0]
            if self.atoms.get(signature) == n:
                return signature
            heapq.heappop(self._small)
        return None

    def hide(self, group: int) -> None:
        """Hide the group, and a team's shown role groups with it (rule 2)."""
        hidden = {group}
        if self.is_team[group]:
            hidden.update(g for g in self.roles_of.get(self.family[group], ()) if g in self.shown)
        self.shown -= hidden
        for each in hidden:
            self._move(each, lambda signature: signature - hidden)

    def resolving(self, signature: Signature) -> set[int]:
        """The shown groups whose hiding resolves the atom: it falls out of every shown group,
        or into another atom (the two differ only in groups that hiding would hide).

        Hiding g hides g and, for a team, its role groups: a set D of shown groups is hidden by
        hiding g if D is {g}, or if D lies in g's family and g is the team. So only atoms that
        differ from this one within a single family can take it in; they are looked up."""
        found: set[int] = set()
        family = self.family

        def hidden_by(difference: Signature) -> None:
            if len(difference) == 1:
                found.update(difference)
            families = {family[g] for g in difference}
            if len(families) == 1:
                (f,) = families
                if f is not None:
                    found.add(self.team_number[f])  # shown: it or one of its role groups is

        if len({family[g] for g in signature}) == 1:
            hidden_by(signature)
        for f, rest in self._outside_families(signature):
            # Atoms with other groups of the same family, or none of it.
            for other in self._by_family.get((f, rest), ()):
                if other != signature:
                    hidden_by(signature ^ other)
            if rest in self.atoms:
                hidden_by(signature - rest)
        # Atoms with this one's groups and some of another family.
        for other in self._outside.get(signature, ()):
            hidden_by(other - signature)
        return found

    def neighbours(self, signature: Signature) -> set[int]:
        """The atom's own groups, and each group that is all that separates a bigger atom."""
        found = set(signature)
        for other in self._less_one.get(signature, ()):
            found.update(other - signature)
        return found

    # Putting back (without the indexes)

    def safe_to_show(self, group: int, rule: Rule) -> bool:
        """Whether the shown results stay safe with `group` shown as well, given that they are
        safe now. Only the atoms with people in the group change: each splits into those in it
        and the rest.

        "atoms": no atom is small afterwards. "linear": that, or the split is wide enough that
        no combination of the shown figures comes within fewer than min_size people of the
        group's own figure (see :func:`decide`, rule="linear"): the figures shown now give each
        atom one weight, so any of them gets wrong, in each atom the group splits, the smaller
        side at least, and every person of the group in no shown group."""
        moving: dict[Signature, int] = {}
        for index in self.cells_of.get(group, ()):
            signature = self.signature[index]
            moving[signature] = moving.get(signature, 0) + self.counts[index]
        small = self._small_total
        spread = 0
        for signature, n in moving.items():
            small += self._is_small(n)  # the new atom: these people, now in the group too
            if signature:
                rest = self.atoms[signature] - n
                small += self._is_small(rest) - self._is_small(self.atoms[signature])
                spread += min(n, rest)
            else:
                spread += n
        return small == 0 or (rule == "linear" and spread >= self.min_size)

    def show(self, group: int) -> None:
        self.shown.add(group)
        self._move(group, lambda signature: signature | {group})


def decide(
    cells: Cells,
    *,
    min_size: int,
    groups: Iterable[GroupId] = (),
    suppress_first: Sequence[GroupKind] = SUPPRESS_FIRST,
    rule: Rule = "atoms",
) -> dict[GroupId, Disclosure]:
    """Decide, for every group in `cells` (and in `groups`, which may have nobody), whether its
    results may be shown. See the module docstring for the rules.

    `rule` says when a group may be put back after the suppression (which is the same for both):

    * ``"atoms"`` (the default): if no atom is small afterwards (rule 3 as stated above).
    * ``"linear"``: also if no linear combination of the shown figures can single out fewer
      than `min_size` people, by this test, which suffices (it may keep a group hidden that could
      be shown, never the reverse). Say the results shown are safe (they are once the atom
      rule has put back what it can, and stay so with each group put back here), and group g
      is added. A
      combination that uses g with weight 0 is one of the safe ones before. Otherwise scale it
      to weight -1 on g: per person it is y(p) - [p in g], where y is a combination of the
      figures shown before. y is the same for everyone in one atom (before), and 0 for those in
      no shown group; so in an atom that g splits, y differs from [p in g] for one side of the
      split at least, and it does for every person of g in no shown group. If those sides and
      people make at least `min_size`, the combination's support is at least that: nobody is
      singled out. This shows groups the atom rule hides: a team whose people, but for a few in
      two teams, are in no shown team (only in the round, with thousands of others), or two
      overlapping teams without the round. It never hides one the atom rule shows (the
      suppression is the same, and everything the atom rule puts back is put back first).
      For figures that are per-person sums only (level histograms and counts): not for
      comments, whose lists can be intersected (a comment in the lists of teams A and B was
      written by someone in both), so :func:`decide_comments` keeps the atom rule.
    """
    if min_size < 1:
        raise ValueError("min_size must be at least 1")
    if rule not in ("atoms", "linear"):
        raise ValueError(f"unknown rule {rule!r}")
    sizes = group_sizes(cells)
    every = set(sizes) | set(groups)
    rank = {kind: i for i, kind in enumerate(suppress_first)}
    too_few = {g for g in every if sizes[g] < min_size}
    ids = sorted(every, key=GroupId.sort_key)
    number = {g: i for i, g in enumerate(ids)}
    order = [(rank.get(g.kind, len(rank)), sizes[g], i) for i, g in enumerate(ids)]
    state = _Atoms(
        ((frozenset(number[g] for g in members), n) for members, n in cells.items() if n),
        ids,
        (number[g] for g in _without_hidden_teams(every - too_few)),
        min_size,
    )

    # Suppress until no small group is derivable: take the smallest small atom; hide the group
    # that resolves it (a team takes its role groups with it), or else one of its own groups or
    # one that is all that separates a neighbouring atom from it, and look again.
    while (signature := state.first_small()) is not None:
        candidates = state.resolving(signature) or state.neighbours(signature)
        state.hide(min(candidates, key=order.__getitem__))
    state.indexed = False

    # Put back what is not needed, most valuable first (teams, the round, role groups; larger
    # groups first). With the linear rule, a second pass of the same, after everything the atom
    # rule puts back.
    hidden_in_order = sorted(
        every - too_few, key=lambda g: (-rank.get(g.kind, 0), -sizes[g], g.sort_key())
    )
    for put_back_rule in ("atoms", "linear") if rule == "linear" else ("atoms",):
        _put_back(state, hidden_in_order, number, put_back_rule)
    shown = {g for g in every if number[g] in state.shown}
    return {g: Disclosure(n=sizes[g], reason=_reason(g, shown, too_few)) for g in every}


def _put_back(
    state: _Atoms, candidates: Sequence[GroupId], number: Mapping[GroupId, int], rule: Rule
) -> None:
    """Show every hidden candidate that is safe to show by `rule`, in the order given, until a
    pass shows nothing more; role groups hidden with their team get their chance once it is
    back."""
    changed = True
    while changed:
        changed = False
        for group in candidates:
            if number[group] in state.shown:
                continue
            if group.kind == "role" and number.get(team(group.team or 0), -1) not in state.shown:
                continue
            if state.safe_to_show(number[group], rule):
                state.show(number[group])
                changed = True


def _reason(group: GroupId, shown: set[GroupId], too_few: set[GroupId]) -> Reason | None:
    if group in shown:
        return None
    if group in too_few:
        return Reason.TOO_FEW
    if group.kind == "role" and team(group.team or 0) not in shown:
        return Reason.TEAM_HIDDEN
    return Reason.SUBTRACTION


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
