"""Exact order statistics of the union of many stored sorted arrays, reading only the parts
of them that can hold the answer.

Why. A cell keeps its dwell times sorted, 8 bytes a stop, because percentiles are order
statistics of the union of a group's cells and must stay exact. Read whole, a report over
ten million stops reads 80 MB of them and partitions them in Python's process, its time and
memory growing with the stops. But a sorted array is an index of itself: with a sample every
STRIDE values (and the sum of the values before each sample), the group's samples bound where
any rank can lie, and the values that settle it are a slice of a few strides per array, read
by `substr` in the database (PostgreSQL fetches only those TOAST chunks).

What it answers, per group, exactly as `rollups.order_statistics` does from every value:
the values at the percentiles' ranks (percentiles.py), the sum of the slowest tenth, and how
many values are at most the service standard. The figures do not change; only what is read.

The bounds. For a run with samples s_j at positions j·S (j < J = ⌈n/S⌉), let a = #samples
below x. Then the count of values below x is 0 when a = 0, else between S(a−1)+1 and
min(S·a, n). Adding those bounds over the runs gives a value L with at most k values below
it, and a value H with at least k+1 values at most it: the k-th smallest lies in [L, H],
and in each run only positions from the last sample below L to the first sample above H
can hold a value of [L, H]. Values in memory (cells computed from the stops) are runs of
stride 1: their bounds are exact and their slices need no reading.
"""

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.reports.percentiles import positions, tail_size

STRIDE = 64  # values per sample: the index is 1/32 of the values (a sample and a sum)
INDEXED_FROM = 64 * STRIDE  # smaller cells are read whole: their slices would be most of them
FLOAT64 = np.dtype("<f8")

Slice = tuple[Hashable, int, int]  # (a run's key, first position, end position)
Fetch = Callable[[dict[Hashable, list[tuple[int, int]]]], dict[Slice, np.ndarray]]


def index_of(packed: bytes) -> bytes:
    """A sorted array's index: the samples at positions 0, S, 2S, … (J of them), then the
    sums of the values before each sample and, last, the sum of them all (J + 1)."""
    values = np.frombuffer(packed, FLOAT64)
    before = np.concatenate(([0.0], np.cumsum(values)))
    at = np.arange(0, len(values), STRIDE)
    return np.concatenate((values[at], before[at], before[-1:])).astype(FLOAT64).tobytes()


@dataclass
class Run:
    """One stored sorted array of a group, known by its index; `key` names it for `Fetch`."""

    key: Hashable
    n: int
    samples: np.ndarray  # the values at positions 0, S, 2S, …
    before: np.ndarray  # the sum of the values before each sample, then the sum of all

    @classmethod
    def of(cls, key: Hashable, n: int, index: bytes) -> "Run":
        packed = np.frombuffer(index, FLOAT64)
        samples = (len(packed) - 1) // 2
        return cls(key, n, packed[:samples], packed[samples:])


@dataclass
class Group:
    """A group's values: stored arrays known by their index, and values in memory (cells
    computed from the stops, and cells too small to be worth an index), in any order."""

    runs: list[Run]
    loose: np.ndarray


@dataclass
class Stats:
    within: int  # values at most the standard
    p50: float | None
    p90: float | None
    tail_mean: float | None


def statistics(groups: dict[Any, Group], standard: float, fetch: Fetch) -> dict[Any, Stats]:
    """Each group's exact statistics, reading through `fetch` only the slices that matter,
    all groups' slices at once."""
    plans = {group: _Plan(found, standard) for group, found in groups.items()}
    wanted: dict[Hashable, set[tuple[int, int]]] = defaultdict(set)
    for plan in plans.values():
        for key, first, end in plan.slices():
            wanted[key].add((first, end))
    fetched = _Covered(fetch({key: _merged(spans) for key, spans in wanted.items()}))
    return {group: plan.finish(fetched) for group, plan in plans.items()}


class _Plan:
    """One group's ranks and the slices that settle them, computed for all its runs at once
    (numpy over their samples laid end to end)."""

    def __init__(self, group: Group, standard: float) -> None:
        self.runs = [run for run in group.runs if run.n]
        self.loose = np.sort(group.loose)
        self.standard = standard
        self.n = len(self.loose) + sum(run.n for run in self.runs)
        self.brackets: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}
        if not self.n:
            return
        self.sizes = np.array([run.n for run in self.runs], np.int64)
        counts = np.array([len(run.samples) for run in self.runs], np.int64)
        self.starts = np.cumsum(counts) - counts
        self.samples = np.concatenate([run.samples for run in self.runs] or [self.loose[:0]])
        self.before = np.concatenate([run.before for run in self.runs] or [self.loose[:0]])
        self.before_starts = self.starts + np.arange(len(self.runs))  # J + 1 sums a run
        self._bounds(counts)
        for k in self.ranks():
            self.brackets[k] = self._bracket(k)
        self.standard_spans = self._spans_at_most(standard)

    def _bounds(self, counts: np.ndarray) -> None:
        """Per sample, sorted: an upper bound of the values below it and a lower bound of
        the values at most it (module docstring), the loose values counted exactly."""
        order = np.argsort(self.samples, kind="stable")
        self.sorted_samples = self.samples[order]
        # A run's j-th sample: "below" may grow by min(S, what is left) past it; "at most"
        # grows by 1 at its first sample and by S at the others.
        within_run = np.arange(len(self.samples)) - np.repeat(self.starts, counts)
        sizes = np.repeat(self.sizes, counts)
        up = np.minimum((within_run + 1) * STRIDE, sizes) - np.minimum(within_run * STRIDE, sizes)
        low = np.where(within_run == 0, 1, STRIDE)
        loose = self.loose
        self.upper = np.concatenate(([0], np.cumsum(up[order])[:-1])) + np.searchsorted(
            loose, self.sorted_samples, "left"
        )
        self.lower = np.cumsum(low[order]) + np.searchsorted(loose, self.sorted_samples, "right")

    def ranks(self) -> set[int]:
        n = self.n
        return {*positions(n, 0.5)[:2], *positions(n, 0.9)[:2], n - tail_size(n)}

    def _per_run(self, mask: np.ndarray) -> np.ndarray:
        """How many of each run's samples the mask holds."""
        if not len(self.runs):
            return np.zeros(0, np.int64)
        return np.add.reduceat(mask.astype(np.int64), self.starts)

    def _bracket(self, k: int) -> tuple[float, float, np.ndarray, np.ndarray]:
        """[L, H] holding the k-th smallest value, and each run's positions [first, end)
        that can hold a value of [L, H]."""
        at = int(np.searchsorted(self.upper, k, "right")) - 1
        low = float(self.sorted_samples[at]) if at >= 0 else -np.inf
        past = int(np.searchsorted(self.lower, k + 1, "left"))
        high = float(self.sorted_samples[past]) if past < len(self.sorted_samples) else np.inf
        first = np.maximum(self._per_run(self.samples < low) - 1, 0) * STRIDE
        end = np.minimum(self._per_run(self.samples <= high) * STRIDE, self.sizes)
        return low, high, first, end

    def _spans_at_most(self, value: float) -> tuple[np.ndarray, np.ndarray]:
        """Per run, the positions between the last sample at most `value` and the next
        sample: the only ones whose values may or may not be at most it."""
        count = self._per_run(self.samples <= value)
        first = np.where(count > 0, (count - 1) * STRIDE + 1, 0)
        return np.minimum(first, self.sizes), np.minimum(count * STRIDE, self.sizes)

    def slices(self) -> list[tuple[Hashable, int, int]]:
        found = []
        spans = [(first, end) for _, _, first, end in self.brackets.values()]
        if self.n:
            spans.append(self.standard_spans)
        for first, end in spans:
            for i in np.flatnonzero(end > first).tolist():
                found.append((self.runs[i].key, int(first[i]), int(end[i])))
        return found

    def _parts(self, fetched: "_Covered", first: np.ndarray, end: np.ndarray) -> np.ndarray:
        parts = [
            fetched.values(run.key, a, b)
            for run, a, b in zip(self.runs, first.tolist(), end.tolist(), strict=True)
            if b > a
        ]
        return np.concatenate(parts) if parts else self.loose[:0]

    def finish(self, fetched: "_Covered") -> Stats:
        if not self.n:
            return Stats(0, None, None, None)
        loose = self.loose
        kth: dict[int, float] = {}
        for k, (low, high, first, end) in self.brackets.items():
            part = self._parts(fetched, first, end)
            below = int(first.sum()) + int(np.count_nonzero(part < low))
            below += int(np.searchsorted(loose, low, "left"))
            inside = np.concatenate(
                (part[(part >= low) & (part <= high)], loose[(loose >= low) & (loose <= high)])
            )
            kth[k] = float(np.partition(inside, k - below)[k - below])
        first, end = self.standard_spans
        part = self._parts(fetched, first, end)
        within = int(first.sum()) + int(np.count_nonzero(part <= self.standard))
        within += int(np.searchsorted(loose, self.standard, "right"))
        p50, p90 = (self._interpolated(kth, q) for q in (0.5, 0.9))
        return Stats(within, p50, p90, self._tail_mean(kth, fetched))

    def _interpolated(self, kth: dict[int, float], q: float) -> float:
        low, high, weight = positions(self.n, q)
        a, b = kth[low], kth[high]
        return a + weight * (b - a)

    def _tail_mean(self, kth: dict[int, float], fetched: "_Covered") -> float:
        """The mean of the slowest tenth: the values above the threshold value (past each
        run's slice, from the sums; inside it, read; loose ones, all known), and the
        threshold for the rest."""
        tail = tail_size(self.n)
        threshold = kth[self.n - tail]
        _, _, first, end = self.brackets[self.n - tail]
        part = self._parts(fetched, first, end)
        larger = part[part > threshold]
        # Past a run's slice: from its first sample at or after `end` (none: nothing).
        after = -(-end // STRIDE)
        sums = self.before[self.before_starts + np.minimum(after, self._samples_per_run())]
        totals = self.before[self.before_starts + self._samples_per_run()]
        loose_larger = self.loose[np.searchsorted(self.loose, threshold, "right") :]
        total = float(larger.sum()) + float((totals - sums).sum()) + float(loose_larger.sum())
        above = len(larger) + int((self.sizes - end).sum()) + len(loose_larger)
        return (total + (tail - above) * threshold) / tail

    def _samples_per_run(self) -> np.ndarray:
        return np.diff(np.concatenate((self.starts, [len(self.samples)])))


def _merged(spans: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined: each part of a run is read once."""
    joined: list[tuple[int, int]] = []
    for first, end in sorted(spans):
        if joined and first <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((first, end))
    return joined


class _Covered:
    """The slices read, by run: any span inside one of them is a view of it."""

    def __init__(self, slices: dict[Slice, np.ndarray]) -> None:
        self.by_key: dict[Hashable, list[tuple[int, int, np.ndarray]]] = defaultdict(list)
        for (key, first, end), values in slices.items():
            self.by_key[key].append((first, end, values))

    def values(self, key: Hashable, first: int, end: int) -> np.ndarray:
        for start, stop, values in self.by_key[key]:
            if start <= first and end <= stop:
                return values[first - start : end - start]
        raise LookupError(f"{key}: positions {first}–{end} were not read")
