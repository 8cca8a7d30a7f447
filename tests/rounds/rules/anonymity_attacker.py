"""An exact attacker on shown group figures, for the anonymity tests (not a test module itself).

Every figure is a sum over the people of its group (a level histogram, a count), so anyone who
sees the figures of the shown groups can compute any linear combination of them, with any
rational weights: sum over groups of x_g * F_g. Per person that is a weight equal to the sum of
x_g over the shown groups the person is in, so it is the same for everyone in one *atom* (the
people in exactly the same shown groups): the combination is y = xM, with M the (shown groups x
atoms) 0/1 incidence matrix, applied to the atoms' own sums. It singles out a set of people when
y is nonzero and its support (the atoms with y_a != 0) holds 1..min_size-1 people.

Such a y with support inside a set A of atoms exists exactly when removing A's columns lowers the
rank of M (the row space restricted to the other columns loses a dimension: that dimension is made
of row-space vectors that vanish outside A). So the attacker tries every set A of small atoms with
fewer than min_size people in all, and compares ranks, computed exactly over the rationals
(fractions.Fraction, Gaussian elimination). This is complete, unlike weights limited to -1, 0 and 1
(tests.rounds.rules.test_anonymity.leak), but only usable where the small atoms are few
(:func:`exact_leak_plain`).

:func:`exact_leak` gives the same answer at a trust's size by first setting aside the atoms no
leak can involve, then trying the sets of the rest. A leak's combination y is zero on every atom
of min_size people or more (its support has fewer), so, being linear in the columns, it is zero
on every column in their span W. Columns that are parallel modulo W (c = a v + w, w in W) have y
all zero or all non-zero together: if their people make min_size or more, y is zero on all of
them, and W grows by their span. Repeat until nothing is added. Every leak then lies among the
columns left outside W, and removing a set A of those lowers the rank of M exactly when it lowers
the rank of what is left modulo W (rank M = dim W + rank of the rest modulo W, with or without
A). So the sets are tried on the remainders modulo W: usually none (everything is in W) or a few.
Sparse exact elimination (rows as {coordinate: Fraction}) keeps this cheap.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction

from rounds.rules.anonymity import GroupId

Cells = Mapping[frozenset[GroupId], int]
Atom = frozenset[GroupId]


def rank(vectors: Sequence[Sequence[int | Fraction]]) -> int:
    """The rank of the vectors over the rationals, by exact Gaussian elimination (each vector
    scaled to integers first, then fraction-free: row_i := p * row_i - a * pivot_row)."""
    rows: list[list[int]] = []
    for vector in vectors:
        if any(vector):
            scale = math.lcm(*(Fraction(x).denominator for x in vector))
            rows.append([int(x * scale) for x in vector])
    found = 0
    width = len(rows[0]) if rows else 0
    for column in range(width):
        pivot = next((i for i in range(found, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[found], rows[pivot] = rows[pivot], rows[found]
        top = rows[found]
        p = top[column]
        for i in range(found + 1, len(rows)):
            a = rows[i][column]
            if a:
                row = [p * x - a * y for x, y in zip(rows[i], top, strict=True)]
                common = math.gcd(*row)
                rows[i] = [x // common for x in row] if common > 1 else row
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


def exact_leak_plain(cells: Cells, shown: Iterable[GroupId], min_size: int) -> list[Atom] | None:
    """:func:`exact_leak` without the reduction: every light set of small atoms, on all of M."""
    groups = sorted(set(shown), key=GroupId.sort_key)
    found = people_by_atom(cells, groups)
    columns = {atom: [int(g in atom) for g in groups] for atom in found}
    full = rank(list(columns.values()))
    for subset in _light_sets(_small_atoms(found, min_size), min_size - 1):
        others = [column for atom, column in columns.items() if atom not in subset]
        if rank(others) < full:
            return subset
    return None


def _small_atoms(found: Mapping[Atom, int], min_size: int) -> list[tuple[Atom, int]]:
    return sorted(
        ((atom, n) for atom, n in found.items() if n < min_size),
        key=lambda item: (item[1], sorted(g.sort_key() for g in item[0])),
    )


Vector = dict[int, Fraction]


class Echelon:
    """A subspace W, as rows in echelon form: each row's first coordinate is its pivot, with
    coefficient 1, and no two rows share a pivot."""

    def __init__(self) -> None:
        self.rows: dict[int, Vector] = {}

    def reduce(self, vector: Mapping[int, int | Fraction]) -> Vector:
        """The vector's canonical representative modulo W: zero on every pivot (two vectors
        have the same one exactly when they differ by a vector of W)."""
        v = {k: Fraction(x) for k, x in vector.items() if x}
        pending = sorted(v)
        heapq.heapify(pending)
        done: set[int] = set()
        while pending:
            c = heapq.heappop(pending)
            if c in done:
                continue
            done.add(c)
            x = v.get(c)
            row = self.rows.get(c)
            if not x or row is None:
                continue
            for k, y in row.items():  # all at c or after: what is done stays done
                value = v.get(k, Fraction(0)) - x * y
                if value:
                    v[k] = value
                else:
                    v.pop(k, None)
                if k not in done:
                    heapq.heappush(pending, k)
        return v

    def add(self, vector: Mapping[int, int | Fraction]) -> bool:
        """Add the vector to W; False if it was in W already."""
        r = self.reduce(vector)
        if not r:
            return False
        pivot = min(r)
        self.rows[pivot] = {k: y / r[pivot] for k, y in r.items()}
        return True


def _direction(v: Vector) -> tuple[tuple[int, Fraction], ...]:
    first = v[min(v)]
    return tuple(sorted((k, y / first) for k, y in v.items()))


def outside_span(
    cells: Cells, shown: Iterable[GroupId], min_size: int
) -> tuple[Counter[Atom], dict[Atom, Vector]]:
    """The atoms, and the remainders modulo W of those outside W (see the module docstring)."""
    # Role groups first and the round last, so that a pivot is the most specific group of its
    # row and rows stay short (the order changes nothing else).
    level = {"role": 0, "team": 1, "round": 2}
    groups = sorted(set(shown), key=lambda g: (level[g.kind], g.sort_key()))
    coordinate = {g: i for i, g in enumerate(groups)}
    found = people_by_atom(cells, groups)
    span = Echelon()
    for atom, n in found.items():
        if n >= min_size:
            span.add({coordinate[g]: 1 for g in atom})
    rest = {atom: span.reduce({coordinate[g]: 1 for g in atom}) for atom in found}
    rest = {atom: v for atom, v in rest.items() if v}
    while True:
        people: Counter[tuple[tuple[int, Fraction], ...]] = Counter()
        for atom, v in rest.items():
            people[_direction(v)] += found[atom]
        heavy = [direction for direction, n in people.items() if n >= min_size]
        if not heavy:
            return found, rest
        for direction in heavy:
            span.add(dict(direction))
        rest = {atom: span.reduce(v) for atom, v in rest.items()}
        rest = {atom: v for atom, v in rest.items() if v}


def exact_leak(
    cells: Cells,
    shown: Iterable[GroupId],
    min_size: int,
    *,
    max_sets: int = 100_000,
    reduced: bool | None = None,
) -> list[Atom] | None:
    """A set of atoms with 1..min_size-1 people in all that some rational combination of the
    shown groups' figures singles out, or None if there is none. Raises if more than `max_sets`
    sets would have to be tried. Unless `reduced` says, a round of 12 atoms or fewer goes to
    :func:`exact_leak_plain` (as exact, and quicker when this small)."""
    shown = set(shown)
    if reduced is False or (reduced is None and len(people_by_atom(cells, shown)) <= 12):
        return exact_leak_plain(cells, shown, min_size)
    found, rest = outside_span(cells, shown, min_size)
    if not rest:
        return None
    coordinates = sorted({k for v in rest.values() for k in v})
    columns = {atom: [v.get(k, Fraction(0)) for k in coordinates] for atom, v in rest.items()}
    full = rank(list(columns.values()))
    small = _small_atoms({atom: found[atom] for atom in rest}, min_size)
    for tried, subset in enumerate(_light_sets(small, min_size - 1)):
        if tried >= max_sets:
            raise RuntimeError(f"more than {max_sets} sets of {len(small)} atoms to try")
        others = [column for atom, column in columns.items() if atom not in subset]
        if rank(others) < full:
            return subset
    return None
