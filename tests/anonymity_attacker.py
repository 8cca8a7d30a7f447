"""An exact attacker on shown group figures, for the anonymity tests (not a test module itself).

Every figure is a sum over the people of its group (a level histogram, a count), so anyone who
sees the figures of the shown groups can compute any linear combination of them, with any
rational weights: sum over groups of x_g * F_g. Per person that is a weight equal to the sum of
x_g over the shown groups the person is in, so it is the same for everyone in one *atom* (the
people in exactly the same shown groups): the combination is y = xM, with M the (shown groups x
atoms) 0/1 incidence matrix, applied to the atoms' own sums. It singles out a set of people when
y is nonzero and its support (the atoms with y_a != 0) holds 1..min_size-1 people.

Such a y with support inside a set A of atoms exists exactly when removing A's columns lowers
the rank of M (the row space restricted to the other columns loses a dimension: that dimension
is made of row-space vectors that vanish outside A). So the attacker tries every set A of small
atoms with fewer than min_size people in all, and compares ranks, computed exactly over the
rationals (fractions.Fraction, Gaussian elimination). This is complete, unlike weights limited
to -1, 0 and 1 (tests.test_anonymity.leak), but only usable where the small atoms are few.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction

from rounds.anonymity import GroupId

Cells = Mapping[frozenset[GroupId], int]
Atom = frozenset[GroupId]


def rank(vectors: Sequence[Sequence[int | Fraction]]) -> int:
    """The rank of the vectors over the rationals, by exact Gaussian elimination."""
    rows = [[Fraction(x) for x in v] for v in vectors if any(v)]
    found = 0
    width = len(rows[0]) if rows else 0
    for column in range(width):
        pivot = next((i for i in range(found, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[found], rows[pivot] = rows[pivot], rows[found]
        top = rows[found]
        for i in range(found + 1, len(rows)):
            if rows[i][column]:
                factor = rows[i][column] / top[column]
                rows[i] = [a - factor * b for a, b in zip(rows[i], top, strict=True)]
        found += 1
    return found


def people_by_atom(cells: Cells, shown: Iterable[GroupId]) -> Counter[Atom]:
    """People by the exact set of shown groups they are in (those in none are seen by none)."""
    visible = frozenset(shown)
    found: Counter[Atom] = Counter()
    for members, n in cells.items():
        if n and members & visible:
            found[members & visible] += n
    return found


def _light_sets(
    atoms: Sequence[tuple[Atom, int]], budget: int, start: int = 0
) -> Iterator[list[Atom]]:
    """Every non-empty set of the atoms with at most `budget` people in all."""
    for i in range(start, len(atoms)):
        atom, n = atoms[i]
        if n <= budget:
            yield [atom]
            for rest in _light_sets(atoms, budget - n, i + 1):
                yield [atom, *rest]


def exact_leak(cells: Cells, shown: Iterable[GroupId], min_size: int) -> list[Atom] | None:
    """A set of atoms with 1..min_size-1 people in all that some rational combination of the
    shown groups' figures singles out, or None if there is none."""
    groups = sorted(set(shown), key=GroupId.sort_key)
    found = people_by_atom(cells, groups)
    columns = {atom: [int(g in atom) for g in groups] for atom in found}
    full = rank(list(columns.values()))
    small = sorted(
        ((atom, n) for atom, n in found.items() if n < min_size),
        key=lambda item: (item[1], sorted(g.sort_key() for g in item[0])),
    )
    for subset in _light_sets(small, min_size - 1):
        others = [column for atom, column in columns.items() if atom not in subset]
        if rank(others) < full:
            return subset
    return None
