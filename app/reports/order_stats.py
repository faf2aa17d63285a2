"""Exact percentiles and tail means per group, without loading rows into Python objects.

PostgreSQL computes them itself: `percentile_cont` for the percentiles, `percentile_disc`
for the value where each group's slowest 10% begins, then one sum above it. SQLite has no
ordered-set aggregates, so it sends the values once, sorted by group and value, and they are
read off the DB-API cursor in large chunks, picking the values at known ranks: the group
sizes (counted beforehand, in the same key order) say where each group begins. Both give the
same numbers: `positions()` is PostgreSQL's own interpolation.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, Select, and_, case, column, func, values
from sqlalchemy.orm import Session

from app.reports.percentiles import positions, tail_size

Key = tuple[Any, ...]
Source = Callable[..., Select[Any]]
CHUNK = 65_536


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
    if session.get_bind().dialect.name == "postgresql":
        return _in_postgresql(session, source, keys, value, sizes, quantiles, tail)
    return _streamed(session, source, keys, value, sizes, quantiles, tail)


def _in_postgresql(
    session: Session,
    source: Source,
    keys: list[Any],
    value: Any,
    sizes: list[tuple[Key, int]],
    quantiles: tuple[float, ...],
    tail: bool,
) -> dict[Key, Stats]:
    n_of = dict(sizes)
    table = _values(keys, "sizes", [(*key, _tail_fraction(n)) for key, n in sizes])
    aggregates = [func.percentile_cont(q).within_group(value) for q in quantiles]
    aggregates.append(func.percentile_disc(table.c.q).within_group(value))
    stmt = (
        source(*keys, *aggregates)
        .join(table, _same(keys, table))
        .where(value.is_not(None))
        .group_by(*keys, table.c.q)
    )
    width = len(keys)
    stats: dict[Key, Stats] = {}
    starts = []
    for row in session.execute(stmt):
        key = tuple(row[:width])
        found = [float(v) for v in row[width : width + len(quantiles)]]
        stats[key] = Stats(dict(zip(quantiles, found, strict=True)))
        starts.append((*key, float(row[-1])))
    if tail:
        _postgresql_tails(session, source, keys, value, starts, n_of, stats)
    return stats


def _postgresql_tails(
    session: Session,
    source: Source,
    keys: list[Any],
    value: Any,
    starts: list[tuple[Any, ...]],
    n_of: dict[Key, int],
    stats: dict[Key, Stats],
) -> None:
    table = _values(keys, "starts", starts)
    above = value > table.c.q
    stmt = (
        source(
            *keys,
            table.c.q,
            func.sum(case((above, value), else_=0.0)),
            func.count(case((above, 1))),
        )
        .join(table, _same(keys, table))
        .where(value.is_not(None))
        .group_by(*keys, table.c.q)
    )
    width = len(keys)
    for row in session.execute(stmt):
        key = tuple(row[:width])
        start, total, count = float(row[width]), float(row[width + 1]), int(row[width + 2])
        k = tail_size(n_of[key])
        # The slowest k: every value above the start value, and copies of it for the rest.
        stats[key].tail_mean = (total + start * (k - count)) / k


def _tail_fraction(n: int) -> float:
    # percentile_disc(q) is the value at 1-based rank ceil(q·n); this q lands on rank n−k+1,
    # the first of the slowest k, with half a rank of room for rounding.
    return (n - tail_size(n) + 0.5) / n


def _values(keys: list[Any], name: str, rows: list[tuple[Any, ...]]) -> Any:
    columns = [column(f"k{i}", key.type) for i, key in enumerate(keys)]
    return values(*columns, column("q", Float), name=name).data(rows)


def _same(keys: list[Any], table: Any) -> Any:
    return and_(*(key == table.c[f"k{i}"] for i, key in enumerate(keys)))


def _streamed(
    session: Session,
    source: Source,
    keys: list[Any],
    value: Any,
    sizes: list[tuple[Key, int]],
    quantiles: tuple[float, ...],
    tail: bool,
) -> dict[Key, Stats]:
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
