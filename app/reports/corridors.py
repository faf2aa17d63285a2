"""Corridors (origin province → destination province), trip by trip: the road-governance
observatories' indicators — controls, delay minutes and informal payments per 100 km."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, false, func, select

from app.checkpoints.models import Checkpoint
from app.errors import Forbidden
from app.reports import order_stats
from app.reports.figures import CENT, money
from app.reports.schemas import CorridorFee, CorridorRow, Report
from app.reports.service import Scope, checkpoint_codes
from app.shipments.models import CargoLine, Shipment, ShipmentStatus
from app.tracking.models import Stop, StopFee

Corridor = tuple[str, str]
KEYS = (Shipment.origin_province, Shipment.destination_province)


@dataclass
class _Trips:
    trips: int = 0
    delivered: int = 0
    with_distance: int = 0
    km: float = 0.0
    organizations: int = 0
    stops: int = 0
    delay_minutes: float = 0.0
    stops_on_known_km: int = 0
    delay_on_known_km: float = 0.0
    fees: dict[str, list[Decimal]] = field(default_factory=dict)  # [total, unreceipted, …km]
    delay_by_checkpoint: dict[Any, float] = field(default_factory=lambda: defaultdict(float))
    median_transit_minutes: float | None = None


def trips(scope: Scope, *columns: Any) -> Select[Any]:
    """The trips in scope: started (not planned, not cancelled), filtered like the stops."""
    stmt = (
        select(*columns)
        .select_from(Shipment)
        .where(Shipment.status.not_in([ShipmentStatus.planned, ShipmentStatus.cancelled]))
    )
    principal, filters = scope.principal, scope.filters
    if principal.is_exporter:
        stmt = stmt.where(Shipment.organization_id == principal.organization_id)
    elif principal.role is None:
        raise Forbidden("Reports are for advocates, admins and exporters.")
    if filters.from_ is not None:
        stmt = stmt.where(Shipment.departed_at >= filters.from_)
    if filters.to is not None:
        stmt = stmt.where(Shipment.departed_at < filters.to)
    if filters.destination_province is not None:
        stmt = stmt.where(Shipment.destination_province == filters.destination_province)
    if filters.hs_chapter is not None:
        carrying = select(CargoLine.shipment_id).where(CargoLine.hs_chapter == filters.hs_chapter)
        stmt = stmt.where(Shipment.id.in_(carrying))
    if filters.checkpoint_id is not None or filters.province is not None:
        through = select(Stop.shipment_id)
        if filters.checkpoint_id is not None:
            through = through.where(Stop.checkpoint_id == filters.checkpoint_id)
        if filters.province is not None:
            through = through.join(Checkpoint, Checkpoint.id == Stop.checkpoint_id).where(
                Checkpoint.province == filters.province
            )
        stmt = stmt.where(Shipment.id.in_(through))
    return stmt


def corridor_report(scope: Scope) -> Report[CorridorRow]:
    session = scope.session
    groups: dict[Corridor, _Trips] = defaultdict(_Trips)
    known_km = Shipment.distance_km.is_not(None)

    def on_known_km(value: Any) -> Any:
        return func.coalesce(func.sum(case((known_km, value), else_=0)), 0)

    for row in session.execute(
        trips(
            scope,
            *KEYS,
            func.count(),
            func.count(Shipment.transit_minutes),
            func.count(Shipment.distance_km),
            func.coalesce(func.sum(Shipment.distance_km), 0.0),
        ).group_by(*KEYS)
    ):
        group = groups[_key(row)]
        group.trips, group.delivered, group.with_distance = int(row[2]), int(row[3]), int(row[4])
        group.km = float(row[5])
    if scope.counts_exporters:
        _count_exporters(scope, groups)

    for row in session.execute(
        trips(
            scope,
            *KEYS,
            Stop.checkpoint_id,
            func.count(),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            on_known_km(1),
            on_known_km(func.coalesce(Stop.dwell_minutes, 0.0)),
        )
        .join(Stop, Stop.shipment_id == Shipment.id)
        .group_by(*KEYS, Stop.checkpoint_id)
    ):
        group = groups[_key(row)]
        group.stops += int(row[3])
        group.delay_minutes += float(row[4])
        group.stops_on_known_km += int(row[5])
        group.delay_on_known_km += float(row[6])
        group.delay_by_checkpoint[row[2]] += float(row[4])

    unreceipted = case((StopFee.receipt == false(), StopFee.amount), else_=0)
    for row in session.execute(
        trips(
            scope,
            *KEYS,
            StopFee.currency,
            func.sum(StopFee.amount),
            func.sum(unreceipted),
            on_known_km(StopFee.amount),
            on_known_km(unreceipted),
        )
        # Fees carry their shipment: no need to go through its stops.
        .join(StopFee, StopFee.shipment_id == Shipment.id)
        .group_by(*KEYS, StopFee.currency)
    ):
        groups[_key(row)].fees[row[2]] = [money(v) for v in row[3:7]]

    _median_transit(scope, groups)
    worst = {c for g in groups.values() for c in g.delay_by_checkpoint}
    codes = checkpoint_codes(session, worst)
    rows = [_row(scope, corridor, group, codes) for corridor, group in groups.items()]
    rows.sort(key=lambda r: (r.suppressed, -(r.delay_hours_per_trip or 0), r.origin_province))
    return scope.report("corridors", CorridorRow, rows)


def _count_exporters(scope: Scope, groups: dict[Corridor, _Trips]) -> None:
    """Distinct exporters per corridor (only the k-anonymity rule needs them)."""
    pairs = trips(scope, *KEYS, Shipment.organization_id).distinct().subquery()
    columns = list(pairs.c)[:2]
    for row in scope.session.execute(select(*columns, func.count()).group_by(*columns)):
        groups[_key(row)].organizations = int(row[2])


def _median_transit(scope: Scope, groups: dict[Corridor, _Trips]) -> None:
    def source(*columns: Any) -> Select[Any]:
        return trips(scope, *columns)

    sizes = scope.session.execute(
        trips(scope, *KEYS, func.count(Shipment.transit_minutes)).group_by(*KEYS).order_by(*KEYS)
    )
    stats = order_stats.exact(
        scope.session,
        source,
        list(KEYS),
        Shipment.transit_minutes,
        [((row[0], row[1]), int(row[2])) for row in sizes],
        quantiles=(0.5,),
        tail=False,
    )
    for key, found in stats.items():
        groups[_key(key)].median_transit_minutes = found.percentiles[0.5]


def _row(scope: Scope, corridor: Corridor, group: _Trips, codes: dict[Any, str]) -> CorridorRow:
    row = CorridorRow(origin_province=corridor[0], destination_province=corridor[1])
    if scope.suppressed(group.organizations) or group.trips == 0:
        row.suppressed = scope.suppressed(group.organizations)
        return row
    per_100km = 100 / group.km if group.km else None
    median = group.median_transit_minutes
    row.trips, row.delivered_trips = group.trips, group.delivered
    row.median_transit_hours = median / 60 if median is not None else None
    row.stops_per_trip = group.stops / group.trips
    row.delay_hours_per_trip = group.delay_minutes / 60 / group.trips
    row.trips_with_distance = group.with_distance
    row.stops_per_100km = group.stops_on_known_km * per_100km if per_100km else None
    row.delay_minutes_per_100km = group.delay_on_known_km * per_100km if per_100km else None
    row.fees = [
        CorridorFee(
            currency=currency,
            per_trip=(total / group.trips).quantize(CENT),
            unreceipted_per_trip=(unreceipted / group.trips).quantize(CENT),
            per_100km=(km_total * Decimal(per_100km)).quantize(CENT) if per_100km else None,
            unreceipted_per_100km=(
                (km_unreceipted * Decimal(per_100km)).quantize(CENT) if per_100km else None
            ),
        )
        for currency, (total, unreceipted, km_total, km_unreceipted) in sorted(group.fees.items())
    ]
    if group.delay_by_checkpoint and group.delay_minutes > 0:
        worst, minutes = max(group.delay_by_checkpoint.items(), key=lambda item: item[1])
        row.worst_checkpoint_id, row.worst_checkpoint_code = worst, codes.get(worst)
        row.worst_checkpoint_delay_share = minutes / group.delay_minutes
    return row


def _key(row: Any) -> Corridor:
    return (str(row[0]), str(row[1]))
