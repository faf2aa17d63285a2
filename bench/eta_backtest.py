"""Does the ETA say when trucks arrive? A backtest on the demo data.

    DATABASE_URL=sqlite:///./data/clearance.db .venv/bin/python -m bench.eta_backtest

For the delivered trips that left in the last --days days of the data (but at least 30 days
after its first departure, so that every ETA has a full window of history, and at least
--settle days before its last event, so that slow trips still on the road do not leave the
sample made of fast ones), the ETA is made as app/tracking/eta_inputs.py makes it, with
`now` set to the departure: from the stops closed before then and the trips delivered by
then only (the trip's own stops are all later). With --arrivals, again at each of the trip's
arrivals at a checkpoint, knowing its stops up to then (the truck at that checkpoint, 0
minutes spent; also broken down by the checkpoints still ahead of it). Each ETA is set
against the actual delivery: a p90 that holds has about 0.9 of the trips delivered by it, a
p50 about 0.5; the error of p50 is in minutes (median of the absolute error, and the median
signed error: positive when trucks arrive later). Last, what the ETA costs GET
/shipments/{id}: `shipment_eta` timed for the trips on the road now, cold and warm.
"""

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import privacy  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import create_db_engine, make_session_factory, utcnow  # noqa: E402
from app.privacy import Thresholds  # noqa: E402
from app.shipments.models import RoutePoint, Shipment, ShipmentStatus  # noqa: E402
from app.tracking import eta_inputs  # noqa: E402
from app.tracking.eta_inputs import Trip, Visit  # noqa: E402
from app.tracking.models import Stop  # noqa: E402


def trips_to_test(session: Session, days: int, settle: int, limit: int | None) -> list[Shipment]:
    """Delivered trips that left in the last `days` days with history and time to finish
    behind and ahead of them (see the docstring), oldest first; every n-th to `limit`."""
    first, last = session.execute(
        select(func.min(Shipment.departed_at), func.max(Shipment.last_event_at))
    ).one()
    if first is None or last is None:
        raise SystemExit("no trip has left: load the demo first")
    start = max(first + eta_inputs.WINDOW, last - timedelta(days=days + settle))
    end = last - timedelta(days=settle)
    rows = session.scalars(
        select(Shipment)
        .where(
            Shipment.departed_at >= start,
            Shipment.departed_at < end,
            Shipment.status == ShipmentStatus.delivered,
        )
        .order_by(Shipment.departed_at, Shipment.id)
    ).all()
    if limit and len(rows) > limit:
        step = len(rows) / limit
        rows = [rows[int(i * step)] for i in range(limit)]
    return list(rows)


def as_of(shipment: Shipment, route: list[Any], stops: list[Any], now: datetime) -> Trip:
    """The trip as the service knew it at `now`: its stops arrived by then, the last one
    still open if it closed later."""
    visits = [
        Visit(s.checkpoint_id, s.arrived_at, s.closed_at if s.closed_at <= now else None)
        for s in stops
        if s.arrived_at is not None and s.arrived_at <= now
    ]
    assert shipment.departed_at is not None
    return Trip(
        origin_province=str(shipment.origin_province),
        destination_province=str(shipment.destination_province),
        distance_km=shipment.distance_km,
        departed_at=shipment.departed_at,
        route=route,
        visits=visits,
        exporter=shipment.organization_id,
    )


def backtest(
    session: Session,
    days: int,
    settle: int,
    limit: int | None,
    arrivals: bool,
    thresholds: Thresholds,
) -> dict[str, Any]:
    tallies: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    no_eta = 0
    trips = trips_to_test(session, days, settle, limit)
    started = time.perf_counter()
    for shipment in trips:
        route = list(
            session.scalars(
                select(RoutePoint.checkpoint_id)
                .where(RoutePoint.shipment_id == shipment.id)
                .order_by(RoutePoint.position)
            )
        )
        stops = session.execute(
            select(Stop.checkpoint_id, Stop.arrived_at, Stop.closed_at)
            .where(Stop.shipment_id == shipment.id, Stop.closed_at.is_not(None))
            .order_by(Stop.seq)
        ).all()
        assert shipment.departed_at is not None
        assert shipment.delivered_at is not None
        moments = [("departure", shipment.departed_at)]
        if arrivals:
            moments += [("arrival", s.arrived_at) for s in stops if s.arrived_at is not None]
        for kind, now in moments:
            found = eta_inputs.trip_eta(
                session, as_of(shipment, route, stops, now), now, thresholds
            )
            if found is None:
                no_eta += 1
                continue
            actual = (shipment.delivered_at - now).total_seconds() / 60
            p50 = (found.p50 - now).total_seconds() / 60
            p90 = (found.p90 - now).total_seconds() / 60
            tallies[kind].append((actual, p50, p90))
            if kind == "arrival":  # by the checkpoints still ahead of this one
                left = len(found.basis.checkpoints_ahead) - 1
                tallies[f"arrival, {left} more ahead"].append((actual, p50, p90))
    seconds = time.perf_counter() - started
    return {
        "trips": len(trips),
        "no_eta": no_eta,
        "ms_per_eta": round(1000 * seconds / max(1, sum(len(t) for t in tallies.values())), 2),
        **{kind: summary(rows) for kind, rows in sorted(tallies.items())},
    }


def request_cost(session: Session, thresholds: Thresholds, shipments: int = 100) -> dict[str, Any]:
    """What the ETA adds to GET /shipments/{id}: `shipment_eta` for up to `shipments` trips on
    the road now, a first pass (each checkpoint's samples read, as after a 5-minute slot
    turns) and a second (from the cache), in ms."""
    on_the_road = session.scalars(
        select(Shipment)
        .where(Shipment.status.in_(eta_inputs.ON_THE_ROAD))
        .order_by(Shipment.id)
        .limit(shipments)
    ).all()
    now = utcnow()
    passes: dict[str, list[float]] = {"first": [], "warm": []}
    for name in passes:
        for shipment in on_the_road:
            started = time.perf_counter()
            eta_inputs.shipment_eta(session, shipment, now, thresholds)
            passes[name].append((time.perf_counter() - started) * 1000)
    return {
        "shipments": len(on_the_road),
        **{
            f"{name}_ms": {
                "p50": round(statistics.median(times), 1),
                "p90": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
                "max": round(max(times), 1),
            }
            for name, times in passes.items()
            if times
        },
    }


def summary(rows: list[tuple[float, float, float]]) -> dict[str, Any]:
    errors = [actual - p50 for actual, p50, _ in rows]
    return {
        "etas": len(rows),
        "share_by_p50": sum(actual <= p50 for actual, p50, _ in rows) / len(rows),
        "share_by_p90": sum(actual <= p90 for actual, _, p90 in rows) / len(rows),
        "median_abs_error_p50_minutes": round(statistics.median(abs(e) for e in errors), 1),
        "median_error_p50_minutes": round(statistics.median(errors), 1),
        "median_remaining_minutes": round(statistics.median(a for a, _, _ in rows), 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60, help="departures of the last N days")
    parser.add_argument("--settle", type=int, default=3, help="days left for trips to finish")
    parser.add_argument("--trips", type=int, help="at most this many trips (evenly spread)")
    parser.add_argument("--arrivals", action="store_true", help="also at each arrival")
    args = parser.parse_args(argv)
    settings = get_settings()
    thresholds = privacy.thresholds_of(settings)  # as GET /shipments/{id} makes it
    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            result = backtest(
                session, args.days, args.settle, args.trips, args.arrivals, thresholds
            )
            result["request_cost"] = request_cost(session, thresholds)
    finally:
        engine.dispose()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
