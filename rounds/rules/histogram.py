"""A distribution of levels (1..5) and what is read from it: median, quartiles, modal share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

LEVEL_COUNT = 5


@dataclass(frozen=True)
class LevelHistogram:
    """How many answers at each level 1..5 (``counts[0]`` is level 1)."""

    counts: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def __post_init__(self) -> None:
        if len(self.counts) != LEVEL_COUNT or any(
            not isinstance(c, int) or c < 0 for c in self.counts
        ):
            raise ValueError(f"expected five non-negative counts, got {self.counts!r}")

    @classmethod
    def from_levels(cls, levels: Mapping[int, int]) -> Self:
        """From ``{level: count}``; levels outside 1..5 are an error."""
        counts = [0] * LEVEL_COUNT
        for level, count in levels.items():
            if not 1 <= level <= LEVEL_COUNT:
                raise ValueError(f"level {level} is outside 1..{LEVEL_COUNT}")
            counts[level - 1] += count
        return cls((counts[0], counts[1], counts[2], counts[3], counts[4]))

    def __add__(self, other: LevelHistogram) -> LevelHistogram:
        a, b = self.counts, other.counts
        return LevelHistogram((a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def _order_statistic(self, index: int) -> int:
        """The level of the index-th answer (0-based) when all answers are sorted."""
        seen = 0
        for level, count in enumerate(self.counts, start=1):
            seen += count
            if index < seen:
                return level
        raise IndexError(index)

    def quantile(self, p: float) -> float | None:
        """The p-quantile (0 ≤ p ≤ 1), interpolating between order statistics (the "inclusive"
        method of `statistics.quantiles`, numpy's default); None when empty."""
        if not 0 <= p <= 1:
            raise ValueError("p must be in [0, 1]")
        n = self.total
        if n == 0:
            return None
        position = (n - 1) * p
        low = math.floor(position)
        high = min(low + 1, n - 1)
        fraction = position - low
        lo, hi = self._order_statistic(low), self._order_statistic(high)
        return lo + (hi - lo) * fraction

    @property
    def median(self) -> float | None:
        return self.quantile(0.5)

    @property
    def q1(self) -> float | None:
        return self.quantile(0.25)

    @property
    def q3(self) -> float | None:
        return self.quantile(0.75)

    @property
    def iqr(self) -> float | None:
        q1, q3 = self.q1, self.q3
        return None if q1 is None or q3 is None else q3 - q1

    @property
    def modal_levels(self) -> tuple[int, ...]:
        """The most frequent level(s); empty when there are no answers."""
        top = max(self.counts)
        return () if top == 0 else tuple(i + 1 for i, c in enumerate(self.counts) if c == top)

    @property
    def modal_share(self) -> float | None:
        """Agreement: the share of answers at the most frequent level (0..1)."""
        n = self.total
        return None if n == 0 else max(self.counts) / n

    @property
    def mean(self) -> float | None:
        n = self.total
        return None if n == 0 else sum(i * c for i, c in enumerate(self.counts, start=1)) / n


def format_level(value: float) -> str:
    """3.0 → "3", 3.5 → "3.5", 3.25 → "3.25"."""
    return f"{round(value, 2):g}"
