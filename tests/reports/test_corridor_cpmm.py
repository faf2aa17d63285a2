"""The corridors' CAREC CPMM figures (issue 17, part 4) against a hand computation over a few
trips built here: speed with and without delay, the share of time at checkpoints and the
cost per trip, over the trips delivered over a known distance ("timed"); the same from the
corridor cells and from the trips, for an admin and for an advocate (whose cells with too
few exporters are left out, and whose suppressed rows carry none of them), and in CSV/XLSX.

The town, all in UTC (durations in minutes; `@` a checkpoint, its dwell and fee):
  erbil → baghdad, 10 November 2026 (exporters A, B, C):
    T1 A  300 km  06:00 → 11:00 (300)  @CP1 07:00–08:00 (60), 10 USD
    T2 B  200 km  06:30 → 10:30 (240)  @CP1 07:30–08:00 (30), 25000 IQD; @CP2 08:30–09:00 (30)
    T3 C  distance unknown, delivered  @CP1 08:00–09:00 (60), 5 USD           (not timed)
    T4 C  250 km  on the road          @CP1 08:00–08:20 (20), 4 USD           (not timed)
  erbil → baghdad, 11 November 2026 (A alone: an advocate never sees this cell):
    T5 A  100 km  06:00 → 08:00 (120)  no stop, 7 USD paid at CP2 with no dwell (no release)
  sulaymaniyah → baghdad, 10 November 2026 (B alone: suppressed for an advocate):
    T6 B  150 km  06:00 → 09:00 (180)  no stop, no fee
"""

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.reports import corridor_cells, rollups
from app.reports.models import CorridorCell, CorridorDirty
from app.shipments.models import Shipment
from app.tracking.models import Stop, StopFee
from tests.factories import API, Actor, admin, make_checkpoint, make_exporter, make_user
from tests.reports.conftest import client_on

EB, SB = ("erbil", "baghdad"), ("sulaymaniyah", "baghdad")
NOV_10 = (datetime(2026, 11, 10, tzinfo=UTC).date() - datetime(1970, 1, 1).date()).days
CAREC = (
    "delivered_trips_with_distance",
    "speed_with_delay_kmh",
    "speed_without_delay_kmh",
    "time_at_checkpoints_share",
    "cost_per_trip",
)
# Cells of 3 trips pass an advocate's thresholds here (the 10 November cells have 4).
PRIVACY = {"report_min_stops": 3}


def at(day: int, clock: str) -> str:
    return f"2026-11-{day:02d}T{clock}:00+00:00"


# --- the expected figures, by hand --------------------------------------------------------

# An admin, erbil → baghdad: T1, T2, T5. 600 km in 300 + 240 + 120 = 660 minutes, of which
# 60 + 60 + 0 = 120 at checkpoints (T5's unreleased stop has no dwell).
ADMIN_EB = {
    "delivered_trips_with_distance": 3,
    "speed_with_delay_kmh": 600 / (660 / 60),
    "speed_without_delay_kmh": 600 / (540 / 60),
    "time_at_checkpoints_share": 120 / 660,
    "cost_per_trip": {"IQD": 25000 / 3, "USD": 17 / 3},  # to the cent below
}
# An advocate, erbil → baghdad: T5's day is left out (one exporter). T1, T2: 500 km in
# 540 minutes, 120 at checkpoints.
ADVOCATE_EB = {
    "delivered_trips_with_distance": 2,
    "speed_with_delay_kmh": 500 / (540 / 60),
    "speed_without_delay_kmh": 500 / (420 / 60),
    "time_at_checkpoints_share": 120 / 540,
    "cost_per_trip": {"IQD": 12500.0, "USD": 5.0},
}
# Anyone who sees it, sulaymaniyah → baghdad: T6 alone, never stopped, paid nothing.
ADMIN_SB = {
    "delivered_trips_with_distance": 1,
    "speed_with_delay_kmh": 50.0,
    "speed_without_delay_kmh": 50.0,
    "time_at_checkpoints_share": 0.0,
    "cost_per_trip": {},
}


def assert_carec(row: dict[str, Any], want: dict[str, Any]) -> None:
    for name in CAREC[:-1]:
        assert row[name] == pytest.approx(want[name], rel=1e-12), name
    costs = {cost["currency"]: cost["amount"] for cost in row["cost_per_trip"]}
    assert costs == {c: round(amount, 2) for c, amount in want["cost_per_trip"].items()}


# --- the town -------------------------------------------------------------------------------


@dataclass
class Town:
    url: str
    admin: Actor
    advocate: Actor
    exporters: dict[str, Actor]
    checkpoints: dict[str, str]  # code → id


class _Trips:
    def __init__(self, client: TestClient, town: Town) -> None:
        self.client, self.town, self.n = client, town, 0

    def add(self, org: str, corridor: tuple[str, str], km: float, events: list[Any]) -> str:
        self.n += 1
        body = {
            "reference": f"T{self.n}",
            "origin_province": corridor[0],
            "origin_city": corridor[0].title(),
            "destination_province": corridor[1],
            "destination_city": corridor[1].title(),
            "truck_plate": f"22 A {self.n:05d} ERB",
            "driver_name": "Karwan Ahmed",
            "driver_phone": "+9647701234567",
            "planned_departure": at(9, "06:00"),
            "distance_km": km,
            "cargo": [
                {
                    "hs_code": "252329",
                    "description": "Portland cement, bagged",
                    "quantity": 600,
                    "unit": "bag",
                    "weight_kg": 30000,
                    "value_usd": 2700,
                }
            ],
        }
        headers = self.town.exporters[org].headers
        response = self.client.post(f"{API}/shipments", json=body, headers=headers)
        assert response.status_code == 201, response.text
        shipment = response.json()
        sent = [self._event(*event) for event in events]
        response = self.client.post(
            f"{API}/sync", json={"shipment_id": shipment["id"], "events": sent}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == len(sent), response.text
        return str(shipment["id"])

    def _event(
        self, type_: str, when: str, where: str | None = None, more: dict[str, Any] | None = None
    ) -> Any:
        event = {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": when}
        event.update(more or {})
        if where is not None:
            event["checkpoint_id"] = self.town.checkpoints[where]
        return event


def _stop(day: int, code: str, arrived: str, released: str) -> list[Any]:
    return [("arrived", at(day, arrived), code), ("released", at(day, released), code)]


def _money(amount: float, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "receipt": True}


def build_town(client: TestClient, url: str) -> Town:
    boss = admin(client)
    town = Town(
        url,
        boss,
        make_user(client, boss, "advocate"),
        {org: make_exporter(client, boss) for org in "ABC"},
        {code: str(make_checkpoint(client, boss, code=code)["id"]) for code in ("CP1", "CP2")},
    )
    trips = _Trips(client, town)

    def fee_at(day: int, clock: str, amount: float, currency: str, code: str) -> Any:
        return ("fee_paid", at(day, clock), code, {"fee": _money(amount, currency)})

    trips.add(
        "A",
        EB,
        300,
        [
            ("departed", at(10, "06:00")),
            ("arrived", at(10, "07:00"), "CP1"),
            fee_at(10, "07:10", 10, "USD", "CP1"),
            ("released", at(10, "08:00"), "CP1"),
            ("delivered", at(10, "11:00")),
        ],
    )
    trips.add(
        "B",
        EB,
        200,
        [
            ("departed", at(10, "06:30")),
            ("arrived", at(10, "07:30"), "CP1"),
            fee_at(10, "07:40", 25000, "IQD", "CP1"),
            ("released", at(10, "08:00"), "CP1"),
            *_stop(10, "CP2", "08:30", "09:00"),
            ("delivered", at(10, "10:30")),
        ],
    )
    unknown = trips.add(
        "C",
        EB,
        310,
        [
            ("departed", at(10, "07:00")),
            ("arrived", at(10, "08:00"), "CP1"),
            fee_at(10, "08:10", 5, "USD", "CP1"),
            ("released", at(10, "09:00"), "CP1"),
            ("delivered", at(10, "12:00")),
        ],
    )
    trips.add(
        "C",
        EB,
        250,
        [
            ("departed", at(10, "07:00")),
            ("arrived", at(10, "08:00"), "CP1"),
            fee_at(10, "08:05", 4, "USD", "CP1"),
            ("released", at(10, "08:20"), "CP1"),
        ],
    )
    trips.add(
        "A",
        EB,
        100,
        [
            ("departed", at(11, "06:00")),
            ("arrived", at(11, "07:00"), "CP2"),
            fee_at(11, "07:05", 7, "USD", "CP2"),
            ("delivered", at(11, "08:00")),  # never released: a stop with no dwell
        ],
    )
    trips.add("B", SB, 150, [("departed", at(10, "06:00")), ("delivered", at(10, "09:00"))])
    # The API always knows a distance (given, or estimated from the route): a trip recorded
    # before distances were, or repaired by hand, may not (its stops and fees carry the fact).
    trip = uuid.UUID(unknown)
    with sessions(client)() as session:
        session.execute(update(Shipment).where(Shipment.id == trip).values(distance_km=None))
        for model in (Stop, StopFee):
            session.execute(
                update(model).where(model.shipment_id == trip).values(trip_has_distance=False)
            )
        session.commit()
    return town


@pytest.fixture
def town(db_url: str) -> Iterator[Town]:
    with client_on(db_url, **PRIVACY) as client:
        yield build_town(client, db_url)


def corridors(client: TestClient, who: Actor, **params: str) -> dict[tuple[str, str], Any]:
    response = client.get(f"{API}/reports/corridors", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return {(r["origin_province"], r["destination_province"]): r for r in response.json()["items"]}


def sessions(client: TestClient) -> Any:
    return client.app.state.session_factory  # type: ignore[attr-defined]


# --- the tests ------------------------------------------------------------------------------


def test_the_figures_from_the_trips_are_the_hand_computed_ones(town: Town) -> None:
    with client_on(town.url, report_rollups=False, **PRIVACY) as client:
        rows = corridors(client, town.admin)
        assert_carec(rows[EB], ADMIN_EB)
        assert_carec(rows[SB], ADMIN_SB)
        # fees[].per_trip is another figure: every trip's fees (the one on the road's too)
        # over every trip.
        per_trip = {f["currency"]: f["per_trip"] for f in rows[EB]["fees"]}
        assert per_trip == {"IQD": 5000.0, "USD": 5.2}  # 25000 / 5, (10 + 5 + 4 + 7) / 5
        advocate = corridors(client, town.advocate)
    assert_carec(advocate[EB], ADVOCATE_EB)
    assert advocate[SB]["suppressed"] is True
    assert all(advocate[SB][name] is None for name in CAREC)


def test_the_cells_hold_the_sums_and_answer_the_same(town: Town) -> None:
    with client_on(town.url, **PRIVACY) as client:
        factory = sessions(client)
        rollups.refresh_all(factory)
        with factory() as session:
            assert session.scalars(select(CorridorDirty.id)).all() == []
            cell = corridor_cells.stored(session, lambda t: t.departure_day == NOV_10)[
                (*EB, NOV_10)
            ]
        assert (cell.timed_trips, cell.timed_km) == (2, 500.0)
        assert (cell.timed_transit_minutes, cell.timed_checkpoint_minutes) == (540.0, 120.0)
        paid = np.frombuffer(cell.timed_fees, corridor_cells.TIMED_FEES).tolist()
        assert paid == [(b"IQD", 2_500_000), (b"USD", 1_000)]  # cents
        assert rollups.verify(factory) == []

        rows = corridors(client, town.admin)
        assert_carec(rows[EB], ADMIN_EB)
        assert_carec(rows[SB], ADMIN_SB)
        advocate = corridors(client, town.advocate)
        assert_carec(advocate[EB], ADVOCATE_EB)
        assert advocate[SB]["suppressed"] is True
        assert all(advocate[SB][name] is None for name in CAREC)
        assert advocate[EB]["trips"] == 4  # the cell of 11 November left out
    with client_on(town.url, report_rollups=False, **PRIVACY) as client:
        assert_same_rows(corridors(client, town.admin), rows)
        assert_same_rows(corridors(client, town.advocate), advocate)


def assert_same_rows(got: dict[Any, Any], want: dict[Any, Any]) -> None:
    assert set(got) == set(want)
    for key, row in want.items():
        differ = {n: (got[key][n], v) for n, v in row.items() if got[key][n] != v}
        assert differ == {}, key


def test_verify_finds_a_wrong_sum_and_a_later_delivery_moves_the_figures(town: Town) -> None:
    with client_on(town.url, **PRIVACY) as client:
        factory = sessions(client)
        rollups.refresh_all(factory)
        with factory() as session:
            session.execute(
                update(CorridorCell)
                .where(
                    CorridorCell.departure_day == NOV_10, CorridorCell.origin_province == "erbil"
                )
                .values(timed_checkpoint_minutes=CorridorCell.timed_checkpoint_minutes + 1)
            )
            session.commit()
        assert rollups.verify(factory) == [
            f"corridor_cells: erbil → baghdad day {NOV_10}: differs from its trips"
        ]
        rollups.rebuild(factory)
        assert rollups.verify(factory) == []
        assert_carec(corridors(client, town.admin)[EB], ADMIN_EB)
        # T2 delivered an hour later (a late tap, say): 720 minutes on the road, 120 of them
        # at checkpoints.
        with factory() as session:
            session.execute(
                update(Shipment)
                .where(Shipment.reference == "T2")
                .values(transit_minutes=Shipment.transit_minutes + 60)
            )
            session.commit()
        with factory() as session:
            assert set(session.scalars(select(CorridorDirty.departure_day))) == {NOV_10}
        # Read from the trips while marked, from the refreshed cell after: the same.
        marked = corridors(client, town.admin)[EB]
        rollups.refresh_all(factory)
        assert corridors(client, town.admin)[EB] == marked
        assert marked["speed_with_delay_kmh"] == pytest.approx(600 / (720 / 60), rel=1e-12)
        assert marked["speed_without_delay_kmh"] == pytest.approx(600 / (600 / 60), rel=1e-12)
        assert marked["time_at_checkpoints_share"] == pytest.approx(120 / 720, rel=1e-12)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_export_has_the_carec_columns(town: Town, fmt: str) -> None:
    with client_on(town.url, **PRIVACY) as client:
        rollups.refresh_all(sessions(client))
        json_rows = corridors(client, town.advocate)
        response = client.get(
            f"{API}/reports/corridors", params={"format": fmt}, headers=town.advocate.headers
        )
    assert response.status_code == 200, response.text
    if fmt == "csv":
        table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
    columns, rows = table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert set(CAREC) <= set(columns)
    by_corridor = {(r["origin_province"], r["destination_province"]): r for r in rows}
    shown, hidden = by_corridor[EB], by_corridor[SB]
    for name in CAREC[:-1]:
        assert float(shown[name]) == pytest.approx(json_rows[EB][name], rel=1e-15), name
        assert hidden[name] in ("", None), name
    assert json.loads(shown["cost_per_trip"]) == json_rows[EB]["cost_per_trip"]
    assert hidden["cost_per_trip"] in ("", None)
