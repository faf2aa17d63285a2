"""Bulk-load N synthetic stops (with their shipments, holds, procedures and fees) straight into
a migrated database, for timing the reports. Rows go in by the tens of thousands per
statement; nothing here goes through the ORM one object at a time.

The figures are plausible, not real: heavy-tailed dwell times per checkpoint, holds on a
share of stops, some turn-backs, fees with and without receipts.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from app.checkpoints.models import Authority, Checkpoint, CheckpointKind, Jurisdiction
from app.geography import Province
from app.organizations.models import Organization
from app.shipments.models import CargoLine, Shipment, ShipmentStatus
from app.tracking.materialize import arrival_day, trip_keys
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from app.tracking.vocabulary import HoldReason, Procedure, StopOutcome

CHUNK = 20_000
START = datetime(2025, 1, 1, tzinfo=UTC)
PROVINCES = [
    Province.kirkuk,
    Province.nineveh,
    Province.diyala,
    Province.salahaddin,
    Province.baghdad,
    Province.erbil,
    Province.sulaymaniyah,
    Province.duhok,
]
CHAPTERS = ["04", "25", "72", "68", "19", "39", "73", "94"]


def load(
    engine: Engine,
    stops: int,
    seed: int = 1,
    checkpoints: int = 40,
    organizations: int = 30,
    stops_per_shipment: int = 5,
) -> None:
    rnd = random.Random(seed)
    cps = _checkpoints(rnd, checkpoints)
    orgs = [
        {"id": uuid.uuid4(), "name": f"Synthetic exporter {i}", "created_at": START}
        for i in range(organizations)
    ]
    with engine.begin() as connection:
        connection.execute(
            insert(Checkpoint), [{k: v for k, v in c.items() if not k.startswith("_")} for c in cps]
        )
        connection.execute(insert(Organization), orgs)
    shipments = stops // stops_per_shipment
    buffers: dict[Any, list[dict[str, Any]]] = {
        Shipment: [],
        CargoLine: [],
        Stop: [],
        StopHold: [],
        StopProcedure: [],
        StopFee: [],
    }
    for n in range(shipments):
        _one_shipment(rnd, n, cps, orgs, stops_per_shipment, buffers)
        if len(buffers[Stop]) >= CHUNK:
            _flush(engine, buffers)
    _flush(engine, buffers)


def _checkpoints(rnd: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "code": f"SYN-{i:03d}",
            "name": f"Synthetic checkpoint {i}",
            "province": rnd.choice(PROVINCES),
            "kind": rnd.choice(list(CheckpointKind)),
            "authority": rnd.choice(list(Authority)),
            "jurisdiction": rnd.choice(list(Jurisdiction)),
            "latitude": 33 + rnd.random() * 4,
            "longitude": 42 + rnd.random() * 4,
            "active": True,
            "created_at": START,
            "updated_at": START,
            # each checkpoint has its own typical delay: the median differs 10-fold across them
            "_scale": rnd.lognormvariate(3.5, 0.7),  # not a column: dropped before insert
        }
        for i in range(count)
    ]


def _one_shipment(
    rnd: random.Random,
    n: int,
    cps: list[dict[str, Any]],
    orgs: list[dict[str, Any]],
    per_shipment: int,
    buffers: dict[Any, list[dict[str, Any]]],
) -> None:
    shipment_id = uuid.uuid4()
    first = {model: len(rows) for model, rows in buffers.items()}
    org = rnd.choice(orgs)["id"]
    departed = START + timedelta(minutes=rnd.randrange(0, 600 * 24 * 60))
    clock = departed
    turned_back = False
    route = rnd.sample(cps, per_shipment)
    for seq, cp in enumerate(route, start=1):
        clock += timedelta(minutes=rnd.randint(20, 180))
        arrived = clock
        dwell = round(rnd.lognormvariate(0, 0.9) * cp["_scale"], 2)
        held = rnd.random() < 0.2
        outcome = StopOutcome.released
        if seq == per_shipment and rnd.random() < 0.03:
            outcome, turned_back = StopOutcome.turned_back, True
        closed = arrived + timedelta(minutes=dwell)
        stop_id = uuid.uuid4()
        context = {
            "stop_id": stop_id,
            "shipment_id": shipment_id,
            "organization_id": org,
            "checkpoint_id": cp["id"],
            "arrived_at": arrived,
            "arrival_day": arrival_day(arrived),
        }
        buffers[Stop].append(
            {
                "id": stop_id,
                "shipment_id": shipment_id,
                "organization_id": org,
                "checkpoint_id": cp["id"],
                "seq": seq,
                "arrived_at": arrived,
                "arrival_day": arrival_day(arrived),
                "closed_at": closed,
                "outcome": outcome,
                "dwell_minutes": dwell,
                "hold_count": int(held),
                "held_minutes": dwell * 0.6 if held else 0.0,
                "is_current": False,
                "last_event_at": closed,
                "anomalies": [],
            }
        )
        if held:
            buffers[StopHold].append(
                {
                    **context,
                    "reason": rnd.choice(list(HoldReason)),
                    "started_at": arrived,
                    "ended_at": closed,
                    "minutes": dwell * 0.6,
                    "event_id": uuid.uuid4(),
                }
            )
        buffers[StopProcedure].append(
            {
                **context,
                "procedure": rnd.choice(list(Procedure)),
                "started_at": arrived,
                "completed_at": arrived + timedelta(minutes=dwell / 3),
                "minutes": dwell / 3,
                "run_number": 1,
            }
        )
        if rnd.random() < 0.5:
            currency = "IQD" if rnd.random() < 0.8 else "USD"
            amount = Decimal(rnd.choice([5000, 10000, 25000])) if currency == "IQD" else Decimal(20)
            buffers[StopFee].append(
                {
                    **context,
                    "amount": amount,
                    "currency": currency,
                    "receipt": rnd.random() < 0.6,
                    "paid_at": arrived,
                    "event_id": uuid.uuid4(),
                }
            )
        clock = closed
        if turned_back:
            break
    delivered = None if turned_back else clock + timedelta(minutes=rnd.randint(30, 300))
    chapter = rnd.choice(CHAPTERS)
    for model in (Stop, StopHold, StopProcedure, StopFee):
        for row in buffers[model][first[model] :]:
            row["hs_chapters"] = chapter
    buffers[Shipment].append(
        {
            "id": shipment_id,
            "tracking_code": f"SYN-{n:010d}",
            "organization_id": org,
            "status": ShipmentStatus.turned_back if turned_back else ShipmentStatus.delivered,
            "origin_province": rnd.choice([Province.erbil, Province.sulaymaniyah, Province.duhok]),
            "origin_city": "City",
            "destination_province": rnd.choice(PROVINCES),
            "destination_city": "City",
            "truck_plate": "00 A 00000",
            "driver_name": "Driver",
            "driver_phone": "+9647000000000",
            "planned_departure": departed,
            "distance_km": round(rnd.uniform(150, 700), 1),
            "distance_estimated": False,
            "departed_at": departed,
            "delivered_at": delivered,
            "last_event_at": clock,
            "transit_minutes": (delivered - departed).total_seconds() / 60 if delivered else None,
            "anomalies": [],
            "created_at": departed,
            "updated_at": departed,
        }
    )
    trip = buffers[Shipment][-1]
    for model in (Stop, StopFee):
        for row in buffers[model][first[model] :]:
            trip_keys(
                row,
                trip["origin_province"],
                trip["destination_province"],
                trip["distance_km"] is not None,
            )
    buffers[CargoLine].append(
        {
            "id": uuid.uuid4(),
            "shipment_id": shipment_id,
            "line_no": 1,
            "hs_code": chapter + "0000",
            "hs_chapter": chapter,
            "description": "Synthetic goods",
            "quantity": Decimal(20),
            "unit": "t",
            "weight_kg": Decimal(20000),
            "value_usd": Decimal(9000),
        }
    )


def _flush(engine: Engine, buffers: dict[Any, list[dict[str, Any]]]) -> None:
    with engine.begin() as connection:
        for model in (Shipment, CargoLine, Stop, StopHold, StopProcedure, StopFee):
            rows = buffers[model]
            if rows:
                connection.execute(insert(model), rows)
            rows.clear()
