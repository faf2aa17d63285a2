"""app/policies/effects.py, the pure statistics: against its own documentation, and its
shortcut (the resamples' middle order statistics drawn directly) against the bootstrap done
outright (n indices drawn with replacement per resample)."""

import itertools
from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp, mannwhitneyu

from app.policies import effects


def documented_bootstrap(before: list[float], after: list[float]) -> list[float]:
    """The interval as effects.py's docstring describes it, step by step."""
    rng = np.random.default_rng(effects.SEED)
    r = effects.RESAMPLES

    def medians(values: list[float]) -> Any:
        x = np.sort(np.asarray(values))
        n = len(x)
        m = (n + 1) // 2
        u = rng.beta(m, n - m + 1, size=r)
        first = x[np.minimum(np.floor(n * u), n - 1).astype(np.int64)]
        if n % 2:
            return first
        w = rng.random(r)
        v = u + (1 - u) * (1 - w ** (1 / (n - m)))
        return (first + x[np.minimum(np.floor(n * v), n - 1).astype(np.int64)]) / 2

    medians_before = medians(before)
    differences = medians(after) - medians_before
    return [float(q) for q in np.percentile(differences, [2.5, 97.5])]


def outright(values: list[float], resamples: int, seed: int) -> Any:
    """The textbook bootstrap: n indices with replacement, then the median, per resample."""
    x = np.asarray(values)
    rng = np.random.default_rng(seed)
    return np.median(x[rng.integers(0, len(x), size=(resamples, len(x)))], axis=1)


def samples(seed: int, n: int, m: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    return list(rng.gamma(3.0, 40.0, n)), list(rng.gamma(3.0, 30.0, m))


@pytest.mark.parametrize(("n", "m"), [(45, 38), (20, 21), (1, 2), (400, 333)])
def test_the_interval_is_the_documented_one(n: int, m: int) -> None:
    before, after = samples(n, n, m)
    found = effects.compare(before, after)
    assert list(found.ci95) == documented_bootstrap(before, after)
    assert found.median_change == float(np.median(after) - np.median(before))
    assert found.mann_whitney_p == mannwhitneyu(after, before, alternative="two-sided").pvalue


@pytest.mark.parametrize("n", [21, 40, 41, 200])
def test_the_shortcut_draws_the_same_medians_as_the_bootstrap_outright(n: int) -> None:
    """Odd and even n, with ties: the two ways' resample medians have the same distribution
    (Kolmogorov–Smirnov over 40,000 each; fixed seeds, so the verdict is fixed too)."""
    rng = np.random.default_rng(n)
    values = list(np.round(rng.gamma(3.0, 40.0, n), 0))  # whole minutes: ties
    shortcut = effects.resampled_medians(np.random.default_rng(7), values, 40_000)
    textbook = outright(values, 40_000, 8)
    assert ks_2samp(shortcut, textbook).statistic < 0.015
    for q in (2.5, 50, 97.5):
        assert abs(np.percentile(shortcut, q) - np.percentile(textbook, q)) <= np.ptp(values) / 20


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_the_shortcut_matches_every_resample_enumerated(n: int) -> None:
    """Small windows: the exact bootstrap distribution of the median, from all n^n
    resamples, against the shortcut's frequencies over 200,000 draws."""
    values = [10.0 * 2**k for k in range(n)]  # every mean of two values is distinct
    exact: dict[float, float] = {}
    for resample in itertools.product(values, repeat=n):
        median = float(np.median(resample))
        exact[median] = exact.get(median, 0.0) + 1 / n**n
    drawn = effects.resampled_medians(np.random.default_rng(n), values, 200_000)
    found, counts = np.unique(drawn, return_counts=True)
    assert set(found.tolist()) <= set(exact)
    frequencies = dict(zip(found.tolist(), (counts / len(drawn)).tolist(), strict=True))
    for median, probability in exact.items():
        assert frequencies.get(median, 0.0) == pytest.approx(probability, abs=0.005), median


def test_the_order_of_the_values_does_not_matter() -> None:
    before, after = samples(3, 30, 30)
    first = effects.compare(before, after)
    again = effects.compare(before[::-1], sorted(after))
    assert first == again


def test_no_difference_gives_an_interval_around_zero_and_a_large_p() -> None:
    rng = np.random.default_rng(4)
    same = list(rng.gamma(3.0, 40.0, 400))
    found = effects.compare(same[:200], same[200:])
    lo, hi = found.ci95
    assert lo < 0 < hi
    assert found.mann_whitney_p is not None
    assert found.mann_whitney_p > 0.05


def test_a_real_difference_is_found() -> None:
    before, after = samples(5, 300, 300)  # after: scale 30 instead of 40
    found = effects.compare(before, after)
    lo, hi = found.ci95
    assert lo <= found.median_change <= hi < 0
    assert found.mann_whitney_p is not None
    assert found.mann_whitney_p < 0.001


def test_all_equal_dwell_is_no_change_with_certainty_of_nothing() -> None:
    found = effects.compare([60.0] * 25, [60.0] * 25)
    assert found.median_change == 0.0
    assert found.ci95 == (0.0, 0.0)
    assert found.mann_whitney_p == 1.0


def test_enough_means_twenty() -> None:
    assert not effects.enough(19)
    assert effects.enough(20)
