"""Where the exact order statistics sit among n sorted values.

A continuous percentile is PostgreSQL's `percentile_cont` (and numpy's default "linear"
method): position h = q·(n−1); value = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]), computed with
the same floating-point operations as PostgreSQL, so both databases give the same figure.
"""

import math

TAIL_SHARE = 0.10  # "the tail": the slowest 10% of stops


def positions(n: int, q: float) -> tuple[int, int, float]:
    """0-based ranks of the two values around quantile q of n sorted values, and the weight."""
    h = q * (n - 1)
    lo = math.floor(h)
    return lo, min(lo + 1, n - 1), h - lo


def tail_size(n: int) -> int:
    return max(1, math.ceil(n * TAIL_SHARE))
