"""The statistics of a policy change's effect, pure (no database): did the median dwell
change between the window before and the window after, and how sure are we?

`compare(before, after)` takes the dwell times (minutes) of the completed stops of each
window and returns:

- `median_change`: median(after) − median(before), the medians linear-interpolated
  (numpy's default, PostgreSQL's `percentile_cont`), so it is the rows' p50 after minus p50
  before. Negative: stops got shorter.
- `ci95`: a percentile bootstrap interval of that change, reproducible to the last bit.
  The bootstrap resamples each window (n values, with replacement) RESAMPLES times and takes
  the difference of the resamples' medians. Only the middle order statistics of a resample
  decide its median, so they are drawn directly instead of n indices: a draw with
  replacement from the sorted values x[0] ≤ … ≤ x[n−1] is x[⌊n·U⌋] for U uniform on [0, 1),
  and ⌊n··⌋ keeps order, so the k-th smallest of a resample is x[⌊n·U₍ₖ₎⌋] with U₍ₖ₎ the k-th
  smallest of n uniforms: Beta(k, n−k+1). The same bootstrap distribution, at a cost that
  does not grow with n. Step by step:
  1. each window's values are sorted ascending (the database's row order never matters);
  2. `rng = numpy.random.default_rng(SEED)`;
  3. for the before window, then the after window (n values, m = (n+1)//2):
     `u = rng.beta(m, n − m + 1, size=RESAMPLES)`, the m-th smallest of n uniforms;
     the median is `x[index(u)]` with `index(u) = minimum(floor(n·u), n − 1)` as integers;
     for even n, also `w = rng.random(RESAMPLES)`, the next smallest is
     `v = u + (1 − u)·(1 − w ** (1 / (n − m)))` (the least of the n − m uniforms above u),
     and the median is `(x[index(u)] + x[index(v)]) / 2`;
  4. differences = after medians − before medians;
  5. `np.percentile(differences, [2.5, 97.5])` (linear) is [lo, hi].
  tests/policies/test_effects_math.py checks it against resampling n indices outright.
- `mann_whitney_p`: `scipy.stats.mannwhitneyu(after, before, alternative="two-sided")`
  with scipy's default method ("auto": exact for small samples without ties, else the
  normal approximation with continuity correction): is one window's dwell stochastically
  larger than the other's?

Cost: sorting the two windows' values (n log n) and the Mann–Whitney ranks; the bootstrap
itself is a few vectors of RESAMPLES numbers, whatever the windows hold.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

SEED = 20261201
RESAMPLES = 10_000
MIN_COMPLETED_STOPS = 20  # per window, below which the figures are `insufficient_data`


@dataclass(frozen=True)
class Comparison:
    median_change: float
    ci95: tuple[float, float]
    mann_whitney_p: float | None  # None if scipy cannot tell (it answers NaN)


def resampled_medians(
    rng: np.random.Generator, values: ArrayLike, resamples: int = RESAMPLES
) -> Any:
    """The medians of `resamples` bootstrap resamples of `values` (step 3 of the module doc)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("a window needs values")
    m = (n + 1) // 2

    def index(u: Any) -> Any:
        return np.minimum(np.floor(n * u), n - 1).astype(np.int64)

    u = rng.beta(m, n - m + 1, size=resamples)
    if n % 2:
        return x[index(u)]
    w = rng.random(resamples)
    v = u + (1 - u) * (1 - w ** (1 / (n - m)))
    return (x[index(u)] + x[index(v)]) / 2


def bootstrap_median_change(
    before: ArrayLike, after: ArrayLike, *, seed: int = SEED, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of median(after) − median(before) (module doc)."""
    rng = np.random.default_rng(seed)
    medians_before = resampled_medians(rng, before, resamples)
    medians_after = resampled_medians(rng, after, resamples)
    lo, hi = np.percentile(medians_after - medians_before, [2.5, 97.5])
    return float(lo), float(hi)


def compare(before: ArrayLike, after: ArrayLike) -> Comparison:
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    change = float(np.median(a) - np.median(b))
    # Imported here: scipy.stats is ~60 MB of every worker's memory, for one rare question.
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Comparison(change, bootstrap_median_change(b, a), p if math.isfinite(p) else None)


def enough(completed_with_dwell: int) -> bool:
    return completed_with_dwell >= MIN_COMPLETED_STOPS
