"""app/policies/effects.py, the pure statistics, against its own documentation."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from app.policies import effects


def documented_bootstrap(before: list[float], after: list[float], block: int) -> list[float]:
    """The interval exactly as effects.py's docstring describes it, block by block."""
    b, a = np.sort(np.asarray(before)), np.sort(np.asarray(after))
    rng = np.random.default_rng(effects.SEED)
    differences: list[float] = []
    while len(differences) < effects.RESAMPLES:
        k = min(block, effects.RESAMPLES - len(differences))
        i = rng.integers(0, len(b), size=(k, len(b)))
        j = rng.integers(0, len(a), size=(k, len(a)))
        differences.extend(np.median(a[j], axis=1) - np.median(b[i], axis=1))
    return [float(x) for x in np.percentile(differences, [2.5, 97.5])]


def samples(seed: int, n: int, m: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    return list(rng.gamma(3.0, 40.0, n)), list(rng.gamma(3.0, 30.0, m))


def test_one_block_is_the_documented_interval() -> None:
    before, after = samples(1, 45, 38)
    found = effects.compare(before, after)
    assert list(found.ci95) == documented_bootstrap(before, after, effects.RESAMPLES)
    assert found.median_change == float(np.median(after) - np.median(before))
    assert found.mann_whitney_p == mannwhitneyu(after, before, alternative="two-sided").pvalue


def test_large_windows_draw_in_blocks_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = samples(2, 60, 50)
    monkeypatch.setattr(effects, "BLOCK_VALUES", 60 * 7)  # blocks of 7 resamples
    got = effects.bootstrap_median_change(before, after)
    assert list(got) == documented_bootstrap(before, after, 7)


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


def test_all_equal_dwell_is_no_change_with_certainty_of_nothing() -> None:
    found = effects.compare([60.0] * 25, [60.0] * 25)
    assert found.median_change == 0.0
    assert found.ci95 == (0.0, 0.0)
    assert found.mann_whitney_p == 1.0


def test_enough_means_twenty() -> None:
    assert not effects.enough(19)
    assert effects.enough(20)
