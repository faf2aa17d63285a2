"""The delay figures every stop-based report shows, for any grouping of stops.

Four queries, whatever the number of stops: one GROUP BY for counts and sums, one sorted
pass over dwell times for the exact percentiles and the tail (streamed, O(1) memory per
group), one GROUP BY for hold reasons and one for fees (and one for the distinct exporters,
when an advocate asks). Python sees one row per group, except for the sorted pass, which it
reads as plain tuples.

A report whose groups no index orders (agencies, weeks, HS chapters) names finer groups
that one does (checkpoints, days, a shipment's set of chapters) and how they roll up: the
counts and sums add up, the exporters are a union of sets, and the percentiles come from the
fine groups' sorted runs merged — the same exact figures, without a join or a sort of every
stop in the database.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, false, func, literal, select
from sqlalchemy.orm import Session

from app.evidence.models import Attachment, AttachmentKind
from app.reports import order_stats
from app.tracking.models import Stop, StopFee, StopHold
from app.tracking.vocabulary import StopOutcome
from app.types import CENT

Key = tuple[Any, ...]
Source = Callable[..., Select[Any]]  # (*columns) -> SELECT columns FROM the scoped stops


@dataclass
class Fees:
    currency: str
    total: Decimal
    unreceipted: Decimal

    @property
    def unreceipted_share(self) -> float | None:
        return float(self.unreceipted / self.total) if self.total else None


@dataclass
class Figures:
    stops: int = 0
    completed_stops: int = 0
    timed_stops: int = 0  # completed stops whose dwell is known (no contradiction)
    total_dwell_minutes: float = 0.0
    held_stops: int = 0
    turned_back_stops: int = 0
    within_standard: int = 0
    within_target: int = 0  # timed stops within their own checkpoint's target (targets.py)
    organizations: int = 0
    fine_groups: int = 0  # when rolled up: how many fine groups (e.g. checkpoints) it spans
    p50_dwell_minutes: float | None = None
    p90_dwell_minutes: float | None = None
    tail_mean_dwell_minutes: float | None = None
    hold_reasons: list[tuple[str, int]] = field(default_factory=list)
    fees: list[Fees] = field(default_factory=list)
    # What corroborates the stops (see Evidence): stops whose position at the taps fell
    # inside the checkpoint's fence, or outside it; stops with an anomaly; fee events, and
    # those with a receipt attached (not withdrawn).
    confirmed_stops: int = 0
    contradicted_stops: int = 0
    anomalous_stops: int = 0
    fee_events: int = 0
    photographed_fees: int = 0

    @property
    def mean_dwell_minutes(self) -> float | None:
        return self.total_dwell_minutes / self.timed_stops if self.timed_stops else None

    @property
    def hold_rate(self) -> float | None:
        return self.held_stops / self.stops if self.stops else None

    @property
    def turn_back_rate(self) -> float | None:
        return self.turned_back_stops / self.stops if self.stops else None

    @property
    def total_delay_hours(self) -> float:
        return self.total_dwell_minutes / 60

    @property
    def within_standard_share(self) -> float | None:
        return self.within_standard / self.timed_stops if self.timed_stops else None

    @property
    def evidence(self) -> "Evidence":
        return Evidence.of(self)


@dataclass(frozen=True)
class Evidence:
    """How much of a group's figures is corroborated: shares of its stops (or, for receipts,
    of its fee events); None when it has none."""

    gps_confirmed_share: float | None
    gps_contradicted_share: float | None
    fee_receipt_photo_share: float | None
    anomaly_share: float | None

    @classmethod
    def of(cls, figures: Figures) -> "Evidence":
        stops, fees = figures.stops, figures.fee_events
        return cls(
            figures.confirmed_stops / stops if stops else None,
            figures.contradicted_stops / stops if stops else None,
            figures.photographed_fees / fees if fees else None,
            figures.anomalous_stops / stops if stops else None,
        )


@dataclass(frozen=True)
class Grouping:
    """How a report groups stops — and their holds and fees, which carry the stop's context
    (shipment, organisation, checkpoint, arrival), so each is read from its own table."""

    source: Callable[[Any], Source]  # table -> (*columns) -> SELECT … FROM table, scoped
    keys: Callable[[Any], list[ColumnElement[Any]]]  # table -> the group key expressions
    normalize: Callable[[Key], Key] = lambda key: key
    # If set, `keys` are fine groups and this maps each (normalised) fine key to the report's
    # groups it belongs to: usually one, several for a shipment carrying several chapters.
    rollup: Callable[[Key], Iterable[Key]] | None = None


def stop_figures(
    session: Session,
    grouping: Grouping,
    *,
    standard_minutes: int,
    organizations: bool = True,
    target_minutes: ColumnElement[Any] | None = None,
) -> dict[Key, Figures]:
    """The figures per group. `organizations`: count each group's distinct exporters (only
    the k-anonymity rule needs them, i.e. an advocate's reports). `target_minutes`: each
    stop's checkpoint's target (targets.py; the standard if not given)."""
    source, keys, normalize = grouping.source(Stop), grouping.keys(Stop), grouping.normalize
    target = target_minutes if target_minutes is not None else literal(standard_minutes)
    figures, raw_keys = _counts(session, source, keys, standard_minutes, target, normalize)
    width = len(keys)
    for key, reason, count in _grouped(session, _hold_reasons(grouping), width, normalize):
        figures[key].hold_reasons.append((str(reason), int(count)))
    fees = _grouped(session, _fees(grouping), width, normalize)
    for key, currency, total, unreceipted, events, photographed in fees:
        group = figures[key]
        group.fees.append(Fees(currency, money(total), money(unreceipted)))
        group.fee_events += int(events)
        group.photographed_fees += int(photographed or 0)
    if grouping.rollup is not None:
        figures = _rolled_up(session, grouping, figures, raw_keys, organizations)
    else:
        if organizations:
            for row in session.execute(_organizations(source, keys)):
                figures[normalize(tuple(row[:width]))].organizations = int(row[width])
        order_statistics(
            session, source, keys, [(raw, figures[normalize(raw)]) for raw in raw_keys]
        )
    for group in figures.values():
        group.hold_reasons.sort(key=lambda item: (-item[1], item[0]))
        group.fees.sort(key=lambda fee: fee.currency)
    return figures


def _rolled_up(
    session: Session,
    grouping: Grouping,
    fine: dict[Key, Figures],
    raw_keys: list[Key],
    organizations: bool,
) -> dict[Key, Figures]:
    """The report's groups from the fine groups' figures (see the module's docstring)."""
    assert grouping.rollup is not None
    source, keys, normalize = grouping.source(Stop), grouping.keys(Stop), grouping.normalize
    coarse: dict[Key, Figures] = {}
    members: dict[Key, list[Key]] = defaultdict(list)  # report group -> its fine raw keys
    for raw in raw_keys:
        for key in grouping.rollup(normalize(raw)):
            members[key].append(raw)
            coarse.setdefault(key, Figures()).fine_groups += 1
            _add(coarse.setdefault(key, Figures()), fine[normalize(raw)])
    if organizations:
        exporters: dict[Key, set[Any]] = defaultdict(set)
        for row in session.execute(source(*keys, Stop.organization_id).distinct()):
            for key in grouping.rollup(normalize(tuple(row[:-1]))):
                exporters[key].add(row[-1])
        for key, group in coarse.items():
            group.organizations = len(exporters[key])
    sizes = [(raw, fine[normalize(raw)].timed_stops) for raw in raw_keys]
    runs = order_stats.sorted_runs(session, source, keys, Stop.dwell_minutes, sizes)
    for key, group in coarse.items():
        found = order_stats.merged(runs, members[key])
        if found is not None:
            group.p50_dwell_minutes = found.percentiles[0.5]
            group.p90_dwell_minutes = found.percentiles[0.9]
            group.tail_mean_dwell_minutes = found.tail_mean
    return coarse


EVIDENCE_COUNTS = (
    "confirmed_stops",
    "contradicted_stops",
    "anomalous_stops",
    "fee_events",
    "photographed_fees",
)
ADDITIVE = (
    "stops",
    "completed_stops",
    "timed_stops",
    "total_dwell_minutes",
    "held_stops",
    "turned_back_stops",
    "within_standard",
    "within_target",
    *EVIDENCE_COUNTS,
)


def _add(total: Figures, part: Figures) -> None:
    """Adds a fine group's counts, sums, hold reasons and fees to its report group."""
    for name in ADDITIVE:
        setattr(total, name, getattr(total, name) + getattr(part, name))
    reasons = dict(total.hold_reasons)
    for reason, count in part.hold_reasons:
        reasons[reason] = reasons.get(reason, 0) + count
    total.hold_reasons = list(reasons.items())
    fees = {fee.currency: fee for fee in total.fees}
    for fee in part.fees:
        if fee.currency in fees:
            fees[fee.currency].total += fee.total
            fees[fee.currency].unreceipted += fee.unreceipted
        else:
            fees[fee.currency] = Fees(fee.currency, fee.total, fee.unreceipted)
    total.fees = list(fees.values())


def _counts(
    session: Session,
    source: Source,
    keys: list[ColumnElement[Any]],
    standard_minutes: int,
    target_minutes: ColumnElement[Any],
    normalize: Callable[[Key], Key],
) -> tuple[dict[Key, Figures], list[Key]]:
    """Counts and sums per group, and the groups' raw keys in the database's own key order."""

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    stmt = (
        source(
            *keys,
            func.count(),
            count_if(Stop.outcome != StopOutcome.open),
            func.count(Stop.dwell_minutes),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            count_if(Stop.hold_count > 0),
            count_if(Stop.outcome == StopOutcome.turned_back),
            count_if(Stop.dwell_minutes <= standard_minutes),
            count_if(Stop.dwell_minutes <= target_minutes),
            *(count_if(condition) for condition in stop_evidence()),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    figures: dict[Key, Figures] = {}
    raw_keys: list[Key] = []
    width = len(keys)
    for row in session.execute(stmt):
        raw_keys.append(tuple(row[:width]))
        key = normalize(raw_keys[-1])
        stops, completed, timed, total, held, turned, within, on_target = row[width : width + 8]
        confirmed, contradicted, anomalous = row[width + 8 :]
        figures[key] = Figures(
            stops=int(stops),
            completed_stops=int(completed),
            timed_stops=int(timed),
            total_dwell_minutes=float(total),
            held_stops=int(held),
            turned_back_stops=int(turned),
            within_standard=int(within),
            within_target=int(on_target),
            confirmed_stops=int(confirmed),
            contradicted_stops=int(contradicted),
            anomalous_stops=int(anomalous),
        )
    return figures, raw_keys


def stop_evidence() -> tuple[ColumnElement[bool], ...]:
    """A stop's evidence, as conditions on its row: its position confirmed, contradicted,
    and any anomaly in its timeline (Figures counts the stops meeting each)."""
    return (
        Stop.position_evidence == "confirmed",
        Stop.position_evidence == "contradicted",
        func.json_array_length(Stop.anomalies) > 0,
    )


def receipt_attached() -> ColumnElement[bool]:
    """A fee event with a receipt attached to it that is not withdrawn (a photo or a scan)."""
    return (
        select(Attachment.id)
        .where(
            Attachment.shipment_id == StopFee.shipment_id,
            Attachment.event_id == StopFee.event_id,
            Attachment.kind == AttachmentKind.receipt,
            Attachment.withdrawn == false(),
        )
        .exists()
    )


def _organizations(source: Source, keys: list[ColumnElement[Any]]) -> Select[Any]:
    """Distinct exporter organisations per group, for the k-anonymity rule. As a grouped
    DISTINCT rather than count(DISTINCT …), SQLite reads it off the (checkpoint,
    organisation) index instead of building a temporary B-tree per group."""
    pairs = source(*keys, Stop.organization_id).distinct().subquery()
    columns = list(pairs.c)
    return select(*columns[:-1], func.count()).group_by(*columns[:-1])


def order_statistics(
    session: Session,
    source: Source,
    keys: list[ColumnElement[Any]],
    groups: list[tuple[Key, Figures]],
) -> None:
    """p50, p90 and the tail mean of each group's dwell times, exactly."""
    sizes = [(key, group.timed_stops) for key, group in groups]
    stats = order_stats.exact(session, source, keys, Stop.dwell_minutes, sizes)
    for key, group in groups:
        found = stats.get(key)
        if found is not None:
            group.p50_dwell_minutes = found.percentiles[0.5]
            group.p90_dwell_minutes = found.percentiles[0.9]
            group.tail_mean_dwell_minutes = found.tail_mean


def _hold_reasons(grouping: Grouping) -> Select[Any]:
    keys = grouping.keys(StopHold)
    return grouping.source(StopHold)(*keys, StopHold.reason, func.count()).group_by(
        *keys, StopHold.reason
    )


def _fees(grouping: Grouping) -> Select[Any]:
    keys = grouping.keys(StopFee)
    unreceipted = case((StopFee.receipt == false(), StopFee.amount), else_=0)
    photographed = func.sum(case((receipt_attached(), 1), else_=0))
    return grouping.source(StopFee)(
        *keys,
        StopFee.currency,
        func.sum(StopFee.amount),
        func.sum(unreceipted),
        func.count(),
        photographed,
    ).group_by(*keys, StopFee.currency)


def _grouped(
    session: Session, stmt: Select[Any], width: int, normalize: Callable[[Key], Key]
) -> Iterable[tuple[Any, ...]]:
    """Rows as (group key, the other columns…)."""
    for row in session.execute(stmt):
        yield (normalize(tuple(row[:width])), *row[width:])


def money(value: Any) -> Decimal:
    # SQLite sums NUMERIC as floating point; amounts have cents, so rounding restores them.
    return Decimal(str(value or 0)).quantize(CENT)
