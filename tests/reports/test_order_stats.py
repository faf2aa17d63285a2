"""Exact statistics of merged sorted runs (order_stats.merged) against numpy."""

import math
import random

import numpy as np
import pytest

from app.reports.order_stats import Runs, merged
from app.reports.percentiles import tail_size


def _runs(sizes: list[int], seed: int) -> Runs:
    rnd = random.Random(seed)
    values: list[float] = []
    spans = {}
    for index, n in enumerate(sizes):
        spans[(index,)] = (len(values), len(values) + n)
        values += sorted(rnd.lognormvariate(3, 1) for _ in range(n))
    return Runs(values, spans)


@pytest.mark.parametrize(
    "members",
    [[0], [3], [0, 1, 2], [1, 3], [4, 0, 2], [0, 1, 2, 3, 4], [2, 5]],
    ids=["first", "one", "adjacent", "apart", "unordered", "all", "with-empty"],
)
def test_merged_runs_give_numpy_figures(members: list[int]) -> None:
    runs = _runs([7, 1, 120, 33, 2, 0], seed=sum(members))
    keys = [(m,) for m in members]
    values = sorted(v for m in members for v in runs.values[slice(*runs.spans.get((m,), (0, 0)))])

    found = merged(runs, keys)

    assert found is not None
    assert found.percentiles[0.5] == np.percentile(values, 50)
    assert math.isclose(found.percentiles[0.9], float(np.percentile(values, 90)), rel_tol=1e-12)
    tail = values[len(values) - tail_size(len(values)) :]
    assert found.tail_mean == pytest.approx(sum(tail) / len(tail), rel=1e-12)


def test_no_values_no_figures() -> None:
    runs = _runs([3, 0], seed=1)

    assert merged(runs, [(1,)]) is None
    assert merged(runs, [(9,)]) is None


def test_runs_apart_with_many_ties() -> None:
    """Order statistics found by binary search over runs, where values repeat across runs."""
    rnd = random.Random(7)
    sizes = [50, 3, 80, 1, 64]
    values: list[float] = []
    spans = {}
    for index, n in enumerate(sizes):
        spans[(index,)] = (len(values), len(values) + n)
        values += sorted(float(rnd.randint(1, 6)) for _ in range(n))
    runs = Runs(values, spans)
    keys = [(0,), (2,), (4,)]  # not adjacent
    union = sorted(v for k in keys for v in values[slice(*spans[k])])

    found = merged(runs, keys, quantiles=(0.1, 0.5, 0.9, 0.99))

    assert found is not None
    for q in (0.1, 0.5, 0.9, 0.99):
        assert found.percentiles[q] == pytest.approx(float(np.percentile(union, q * 100)))
    tail = union[len(union) - tail_size(len(union)) :]
    assert found.tail_mean == sum(tail) / len(tail)
