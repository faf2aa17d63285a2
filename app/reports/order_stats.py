"""Exact percentiles and tail means per group, without loading rows into Python objects.

The database sends the values once, sorted by group and value (an index order for the
checkpoint report, so no sort at all on SQLite); they are read off the DB-API cursor in
chunks of plain tuples, and only the values at the ranks that matter are kept: the group
sizes, counted beforehand in the same key order, say where each group begins. One code path
for both databases, so both give the very same figures; `positions()` interpolates as
PostgreSQL's `percentile_cont` and numpy's default do.

Groups that are unions of the groups an index orders (agencies of checkpoints, weeks of
days) use `sorted_runs()` and `merged()` instead: the same one pass, but every value is kept
(about 32 MB at 1,000,000 stops, for the length of the request) and each union's runs are
merged by a sort that only has to merge them.

(PostgreSQL's own `percentile_cont` was measured slower here: 0.8 s against 0.4 s for this
pass at 1,000,000 stops, see bench/RESULTS.md.)
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.reports.percentiles import positions, tail_size

Key = tuple[Any, ...]
Source = Callable[..., Select[Any]]
CHUNK = 65_536
FEW_RUNS = 8


@dataclass
class Stats:
    percentiles: dict[float, float] = field(default_factory=dict)
    tail_mean: float | None = None


def exact(
    session: Session,
    source: Source,
    keys: list[Any],
    value: Any,
    sizes: list[tuple[Key, int]],
    quantiles: tuple[float, ...] = (0.5, 0.9),
    tail: bool = True,
) -> dict[Key, Stats]:
    """Per group (raw key -> number of non-null values, in the database's key order)."""
    sizes = [(key, n) for key, n in sizes if n]
    if not sizes:
        return {}
    wanted: dict[int, float] = {}  # absolute row number -> value, filled as rows stream by
    tails: list[tuple[int, int]] = []  # [first, end) absolute row numbers of each group's tail
    start = 0
    for _, n in sizes:
        for q in quantiles:
            low, high, _ = positions(n, q)
            wanted[start + low] = wanted[start + high] = 0.0
        tails.append((start + n - tail_size(n), start + n) if tail else (start, start))
        start += n
    tail_sums = [0.0] * len(sizes)
    stmt = source(value).where(value.is_not(None)).order_by(*keys, value)
    result = session.connection().execute(stmt)
    cursor = result.cursor  # the raw DB-API cursor: plain tuples, no per-row wrapping
    offset = 0
    while chunk := cursor.fetchmany(CHUNK):
        end = offset + len(chunk)
        for row_number in [r for r in wanted if offset <= r < end]:
            wanted[row_number] = float(chunk[row_number - offset][0])
        for index, (first, stop) in enumerate(tails):
            if first < end and stop > offset:
                part = chunk[max(first, offset) - offset : min(stop, end) - offset]
                tail_sums[index] += sum(v for (v,) in part)
        offset = end
    result.close()
    stats: dict[Key, Stats] = {}
    start = 0
    for index, (key, n) in enumerate(sizes):
        found = {q: _interpolate(wanted, start, n, q) for q in quantiles}
        stats[key] = Stats(found, tail_sums[index] / tail_size(n) if tail else None)
        start += n
    return stats


def _interpolate(wanted: dict[int, float], start: int, n: int, q: float) -> float:
    low, high, weight = positions(n, q)
    a, b = wanted[start + low], wanted[start + high]
    return a + weight * (b - a)


@dataclass
class Runs:
    """Every group's values, sorted within the group, one group after the other."""

    values: list[float]
    spans: dict[Key, tuple[int, int]]  # group -> [start, end) in values


def sorted_runs(
    session: Session, source: Source, keys: list[Any], value: Any, sizes: list[tuple[Key, int]]
) -> Runs:
    """Every group's values, sorted, read in one pass in (key, value) order: for groups that
    are later merged into coarser ones (checkpoints into agencies, days into weeks), whose
    ranks only the merged runs say. One flat list of floats, about 32 bytes a value."""
    values: list[float] = []
    stmt = source(value).where(value.is_not(None)).order_by(*keys, value)
    result = session.connection().execute(stmt)
    while chunk := result.cursor.fetchmany(CHUNK):
        values.extend(chain.from_iterable(chunk))
    result.close()
    spans: dict[Key, tuple[int, int]] = {}
    start = 0
    for key, n in sizes:
        if n:
            spans[key] = (start, start + n)
            start += n
    return Runs(values, spans)


def merged(
    runs: Runs, keys: list[Key], quantiles: tuple[float, ...] = (0.5, 0.9), tail: bool = True
) -> Stats | None:
    """The exact statistics of the union of these groups' runs."""
    found_spans = (runs.spans.get(key) for key in keys)
    spans = sorted(span for span in found_spans if span and span[1] > span[0])
    if not spans:
        return None
    if len(spans) == 1 or all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)):
        # One run, read in place, or adjacent runs (the days of a week), sorted as one slice:
        # timsort finds the runs and only merges them, in C.
        start, end = spans[0][0], spans[-1][1]
        values = runs.values if len(spans) == 1 else sorted(runs.values[start:end])
        first = start if len(spans) == 1 else 0
        return _stats(SortedUnion(values, [(first, first + end - start)]), quantiles, tail)
    if len(spans) > FEW_RUNS:
        # Many runs apart (an advocate's cells: the days of a checkpoint, some left out):
        # concatenated and sorted, timsort merging the runs, in C.
        values = sorted(chain.from_iterable(runs.values[a:b] for a, b in spans))
        return _stats(SortedUnion(values, [(0, len(values))]), quantiles, tail)
    # A few runs apart (the checkpoints of an agency): their union is never built; each order
    # statistic is found by binary search over the runs (its cost grows with runs squared).
    return _stats(SortedUnion(runs.values, spans), quantiles, tail)


@dataclass
class SortedUnion:
    """The union of sorted spans of one list, seen as one sorted sequence."""

    values: list[float]
    spans: list[tuple[int, int]]

    def __len__(self) -> int:
        return sum(end - start for start, end in self.spans)

    def rank_range(self, value: float) -> tuple[int, int]:
        """How many values are below `value`, and how many are at most `value`."""
        below = at_most = 0
        for start, end in self.spans:
            below += bisect_left(self.values, value, start, end) - start
            at_most += bisect_right(self.values, value, start, end) - start
        return below, at_most

    def kth(self, k: int) -> float:
        """The k-th smallest value (0-based)."""
        if len(self.spans) == 1:
            return self.values[self.spans[0][0] + k]
        for start, end in self.spans:  # the answer is a value of one of the runs
            low, high = start, end
            while low < high:
                middle = (low + high) // 2
                below, at_most = self.rank_range(self.values[middle])
                if k < below:
                    high = middle
                elif k >= at_most:
                    low = middle + 1
                else:
                    return self.values[middle]
        raise IndexError(k)

    def sum_of_largest(self, count: int) -> float:
        """The sum of the `count` largest values."""
        if len(self.spans) == 1:
            end = self.spans[0][1]
            return sum(self.values[end - count : end])
        threshold = self.kth(len(self) - count)
        total, above = 0.0, 0
        for start, end in self.spans:
            first_above = bisect_right(self.values, threshold, start, end)
            total += sum(self.values[first_above:end])
            above += end - first_above
        return total + (count - above) * threshold


def _stats(union: SortedUnion, quantiles: tuple[float, ...], tail: bool) -> Stats:
    n = len(union)
    found = {}
    for q in quantiles:
        low, high, weight = positions(n, q)
        a, b = union.kth(low), union.kth(high)
        found[q] = a + weight * (b - a)
    tail_mean = union.sum_of_largest(tail_size(n)) / tail_size(n) if tail else None
    return Stats(found, tail_mean)
