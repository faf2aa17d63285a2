"""Exact order statistics over one streamed, sorted pass: O(1) memory per group.

`continuous_percentile` is PostgreSQL's `percentile_cont` (and numpy's default "linear"
method): position h = q·(n−1); value = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]), computed with
the same floating-point operations as PostgreSQL, so both databases give the same figure.
"""

import math
from dataclasses import dataclass, field

TAIL_SHARE = 0.10  # "the tail": the slowest 10% of stops


def positions(n: int, q: float) -> tuple[int, int, float]:
    """0-based ranks of the two values around quantile q of n sorted values, and the weight."""
    h = q * (n - 1)
    lo = math.floor(h)
    return lo, min(lo + 1, n - 1), h - lo


def tail_size(n: int) -> int:
    return max(1, math.ceil(n * TAIL_SHARE))


@dataclass
class OrderStats:
    """Fed one group's values in ascending order; knows the group's size up front."""

    n: int
    quantiles: tuple[float, ...] = (0.5, 0.9)
    _wanted: dict[int, float | None] = field(default_factory=dict)
    _seen: int = 0
    _tail_sum: float = 0.0

    def __post_init__(self) -> None:
        for q in self.quantiles:
            lo, hi, _ = positions(self.n, q)
            self._wanted[lo] = None
            self._wanted[hi] = None

    def add(self, value: float) -> None:
        if self._seen in self._wanted:
            self._wanted[self._seen] = value
        if self._seen >= self.n - tail_size(self.n):
            self._tail_sum += value
        self._seen += 1

    def percentile(self, q: float) -> float | None:
        if self.n == 0 or self._seen < self.n:
            return None
        lo, hi, weight = positions(self.n, q)
        low, high = self._wanted[lo], self._wanted[hi]
        assert low is not None
        assert high is not None
        return low + weight * (high - low)

    def tail_mean(self) -> float | None:
        if self.n == 0 or self._seen < self.n:
            return None
        return self._tail_sum / tail_size(self.n)
