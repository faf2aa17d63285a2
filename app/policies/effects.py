"""The statistics of a policy change's effect, pure (no database): did the median dwell
change between the window before and the window after, and how sure are we?

`compare(before, after)` takes the dwell times (minutes) of the completed stops of each
window and returns:

- `median_change`: median(after) − median(before), the medians linear-interpolated
  (numpy's default, PostgreSQL's `percentile_cont`), so it is the rows' p50 after minus p50
  before. Negative: stops got shorter.
- `ci95`: a percentile bootstrap interval of that change, reproducible to the last bit:
  1. each window's values are sorted ascending (the database's row order never matters);
  2. `rng = numpy.random.default_rng(SEED)`;
  3. the resamples are drawn in blocks of `block = max(1, BLOCK_VALUES // max(nb, na))`
     rows (one block of all RESAMPLES rows for windows up to 2,000 values each); for each
     block of k rows, in this order: `rng.integers(0, nb, size=(k, nb))` (indices into
     the before values), then `rng.integers(0, na, size=(k, na))` (into the after values);
  4. each row's difference `np.median(after[j]) − np.median(before[i])`;
  5. `np.percentile(differences, [2.5, 97.5])` (linear) is [lo, hi].
- `mann_whitney_p`: `scipy.stats.mannwhitneyu(after, before, alternative="two-sided")`
  with scipy's default method ("auto": exact for small samples without ties, else the
  normal approximation with continuity correction): is one window's dwell stochastically
  larger than the other's?

Cost: RESAMPLES × (nb + na) random indices and medians: about 2,000 × 2,000 values a block,
so memory stays under 4,000,000 indices (32 MB) whatever the windows hold.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import mannwhitneyu

SEED = 20261201
RESAMPLES = 2000
BLOCK_VALUES = 4_000_000
MIN_COMPLETED_STOPS = 20  # per window, below which the figures are `insufficient_data`


@dataclass(frozen=True)
class Comparison:
    median_change: float
    ci95: tuple[float, float]
    mann_whitney_p: float | None  # None if scipy cannot tell (it answers NaN)


def bootstrap_median_change(
    before: ArrayLike, after: ArrayLike, *, seed: int = SEED, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of median(after) − median(before) (module doc)."""
    b = np.sort(np.asarray(before, dtype=np.float64))
    a = np.sort(np.asarray(after, dtype=np.float64))
    nb, na = len(b), len(a)
    if nb == 0 or na == 0:
        raise ValueError("both windows need values")
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_VALUES // max(nb, na))
    differences = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, block):
        k = min(block, resamples - start)
        i = rng.integers(0, nb, size=(k, nb))
        j = rng.integers(0, na, size=(k, na))
        differences[start : start + k] = np.median(a[j], axis=1) - np.median(b[i], axis=1)
    lo, hi = np.percentile(differences, [2.5, 97.5])
    return float(lo), float(hi)


def compare(before: ArrayLike, after: ArrayLike) -> Comparison:
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    change = float(np.median(a) - np.median(b))
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Comparison(change, bootstrap_median_change(b, a), p if math.isfinite(p) else None)


def enough(completed_with_dwell: int) -> bool:
    return completed_with_dwell >= MIN_COMPLETED_STOPS
