"""Every report row says how much of it is corroborated (`evidence`), and every report can
be asked over GPS-confirmed stops only (`evidence=confirmed`), with the advocates' rules
applied to both.

The world: checkpoints P (Kirkuk) and Q (Tuz), five exporters. Day 0: twenty trips P then
Q; at P ten arrivals are tapped inside the fence (confirmed) and ten without a position
(both halves pass the advocates' thresholds); at Q five are tapped 10 km away
(contradicted), five inside, ten without; five trips are confirmed at both; every trip
pays a fee at P, half of them with a photo of the receipt attached. Day 1: two trips
of two exporters, confirmed at P (a cell too thin for advocates). Day 2: twelve trips of
four exporters, eleven confirmed at P and one not: the confirmed part passes the
thresholds, but what it leaves (one stop) would be singled out by a difference.

The truth is read back per stop from the shipments' own stops (position_evidence,
anomalies), not from any report.
"""

import csv
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.reports import rollups
from tests.conftest import DatabaseUnderTest, module_database
from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_org,
    make_shipment,
    make_user,
)
from tests.positions.helpers import KIRKUK, TUZ, location
from tests.reports.conftest import client_on

DAY0 = date(2026, 11, 9)
REPORTS = ("checkpoints", "agencies", "commodities", "trends", "procedures", "corridors")
SHARES = ("gps_confirmed_share", "gps_contradicted_share", "fee_receipt_photo_share")


@dataclass
class TruthStop:
    code: str
    day: int
    org: int
    dwell: float
    evidence: str = "none"
    anomalous: bool = False
    fee_event: str | None = None
    receipt: bool = False


@dataclass
class Place:
    client: TestClient
    admin: Actor
    advocate: Actor
    exporters: list[Actor]
    checkpoints: dict[str, str]
    stops: list[TruthStop] = field(default_factory=list)
    shipments: list[tuple[str, int]] = field(default_factory=list)  # (id, exporter)
    receipts: list[tuple[str, TruthStop]] = field(default_factory=list)  # attachment, its stop


def _at(day: int, minutes: float) -> str:
    start = datetime(DAY0.year, DAY0.month, DAY0.day, 4, tzinfo=UTC)
    return (start + timedelta(days=day, minutes=minutes)).isoformat()


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 40)).save(out, "JPEG")
    return out.getvalue()


def _plan(day: int) -> list[tuple[int, str, str]]:
    """(exporter, P's tap, Q's tap) per trip: confirmed (inside), contradicted (10 km off)
    or none."""
    if day == 1:
        return [(0, "confirmed", "none"), (1, "confirmed", "none")]
    if day == 2:
        return [(n % 4, "none" if n == 0 else "confirmed", "none") for n in range(12)]
    trips = []
    for n in range(20):
        at_q = ("contradicted", "none", "confirmed", "none")[n % 4]
        trips.append((n % 5, "confirmed" if n % 2 == 0 else "none", at_q))
    return trips


def _tap(kind: str, point: tuple[float, float]) -> dict[str, Any]:
    if kind == "confirmed":
        return {"location": location(point, 40, accuracy=15)}
    if kind == "contradicted":
        return {"location": location(point, 10_000, accuracy=15)}
    return {}


def _send(place: Place, rng: random.Random, day: int, index: int, plan: Any) -> None:
    org, tap_p, tap_q = plan
    exporter = place.exporters[org]
    shipment = make_shipment(
        place.client,
        exporter,
        planned_departure=_at(day, index * 10),
        route=[place.checkpoints["P"], place.checkpoints["Q"]],
    )
    events: list[dict[str, Any]] = []

    def emit(type_: str, minute: float, **fields: Any) -> str:
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        events.append({"event_id": event_id, "type": type_, "occurred_at": _at(day, minute)})
        events[-1].update(fields)
        return event_id

    t = index * 10.0
    emit("departed", t)
    for code, tap, point in (("P", tap_p, KIRKUK), ("Q", tap_q, TUZ)):
        t += 60
        arrived = t
        emit("arrived", t, checkpoint_id=place.checkpoints[code], **_tap(tap, point))
        stop = TruthStop(code, day, org, 0.0)
        if code == "P":
            emit("procedure_started", t + 1, procedure="document_check")
            emit("procedure_completed", t + 11, procedure="document_check")
            fee = {"amount": "25000", "currency": "IQD", "receipt": index % 3 != 0}
            stop.fee_event = emit("fee_paid", t + 12, fee=fee)
            stop.receipt = day == 0 and index % 2 == 0
        t += rng.randint(35, 200)
        emit("released", t)
        stop.dwell = t - arrived
        place.stops.append(stop)
    emit("delivered", t + 30)
    response = place.client.post(
        f"{API}/sync",
        json={"shipment_id": shipment["id"], "events": events},
        headers=exporter.headers,
    )
    assert response.status_code == 200, response.text
    place.shipments.append((shipment["id"], org))
    fee_stop = place.stops[-2]
    if fee_stop.receipt:
        response = place.client.post(
            f"{API}/shipments/{shipment['id']}/events/{fee_stop.fee_event}/attachments",
            params={"kind": "receipt"},
            content=_photo(),
            headers={**exporter.headers, "Content-Type": "image/jpeg"},
        )
        assert response.status_code == 201, response.text
        place.receipts.append((response.json()["id"], fee_stop))


def _read_back(place: Place) -> None:
    """Each stop's position evidence and anomalies as the shipment's own stops give them
    (place.stops holds each shipment's stops in its order, P then Q)."""
    found = []
    for shipment_id, org in place.shipments:
        response = place.client.get(
            f"{API}/shipments/{shipment_id}/stops", headers=place.exporters[org].headers
        )
        assert response.status_code == 200, response.text
        found.extend(sorted(response.json()["items"], key=lambda s: s["seq"]))
    codes = {v: k for k, v in place.checkpoints.items()}
    for stop, row in zip(place.stops, found, strict=True):
        assert codes[row["checkpoint"]["id"]] == stop.code
        stop.evidence = row["position_evidence"]
        stop.anomalous = bool(row["anomalies"])


def build_place(client: TestClient) -> Place:
    boss = admin(client)
    checkpoints = {
        "P": make_checkpoint(
            client, boss, code="EV-P", latitude=KIRKUK[0], longitude=KIRKUK[1], authority="army"
        )["id"],
        "Q": make_checkpoint(
            client,
            boss,
            code="EV-Q",
            latitude=TUZ[0],
            longitude=TUZ[1],
            province="salahaddin",
            authority="customs",
            kind="customs",
        )["id"],
    }
    exporters = [make_exporter(client, boss, make_org(client, boss, f"V{n}")) for n in range(5)]
    place = Place(client, boss, make_user(client, boss, "advocate"), exporters, checkpoints)
    rng = random.Random(20261109)
    for day in range(3):
        for index, plan in enumerate(_plan(day)):
            _send(place, rng, day, index, plan)
    _read_back(place)
    return place


@pytest.fixture(scope="module")
def place_url(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    files = tmp_path_factory.mktemp("evidence-files")
    with module_database(database, tmp_path_factory, "evidence") as url:
        yield url, files


@pytest.fixture(scope="module")
def place(place_url: tuple[str, Path]) -> Iterator[Place]:
    url, files = place_url
    with client_on(url, attachments_dir=files) as client:
        yield build_place(client)


def ask(place: Place, name: str, who: Actor, **params: str) -> dict[str, Any]:
    response = place.client.get(f"{API}/reports/{name}", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def day(n: int) -> str:
    return f"{(DAY0 + timedelta(days=n)).isoformat()}T00:00:00Z"


def shares(stops: list[TruthStop]) -> dict[str, float | None]:
    fees = [s for s in stops if s.fee_event]
    return {
        "gps_confirmed_share": sum(s.evidence == "confirmed" for s in stops) / len(stops),
        "gps_contradicted_share": sum(s.evidence == "contradicted" for s in stops) / len(stops),
        "fee_receipt_photo_share": sum(s.receipt for s in fees) / len(fees) if fees else None,
        "anomaly_share": sum(s.anomalous for s in stops) / len(stops),
    }


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["checkpoint_code"]: row for row in body["items"]}


def assert_shares(got: dict[str, Any] | None, want: dict[str, float | None]) -> None:
    assert got is not None
    for name, value in want.items():
        if value is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(value, rel=1e-12), name


def refresh(place: Place) -> None:
    rollups.refresh_all(place.client.app.state.session_factory)  # type: ignore[attr-defined]


# --- the figures ---------------------------------------------------------------------------


def test_the_world_has_every_kind_of_evidence(place: Place) -> None:
    """The plan came out as meant: the positions were judged as the taps say."""
    day0 = [s for s in place.stops if s.day == 0]
    assert sum(s.evidence == "confirmed" for s in day0 if s.code == "P") == 10
    assert sum(s.evidence == "contradicted" for s in day0 if s.code == "Q") == 5
    assert sum(s.evidence == "confirmed" for s in day0 if s.code == "Q") == 5
    assert any(s.anomalous for s in place.stops)  # a contradicting position is one
    assert sum(s.receipt for s in place.stops) == 10


@pytest.mark.parametrize("path", ["cells", "stops"])
def test_each_checkpoint_row_gives_its_stops_evidence(place: Place, path: str) -> None:
    """An admin's rows: the shares of the row's stops, exactly, whether the day cells answer
    (refreshed) or the stops (a window with an edge day is read from the stops)."""
    if path == "cells":
        refresh(place)
        params = {"from": day(0), "to": day(3)}
    else:
        params = {"from": _at(0, -60), "to": day(3)}
    rows = by_code(ask(place, "checkpoints", place.admin, **params))
    for code in ("P", "Q"):
        mine = [s for s in place.stops if s.code == code]
        assert_shares(rows[f"EV-{code}"]["evidence"], shares(mine))
    assert rows["EV-Q"]["evidence"]["fee_receipt_photo_share"] is None  # no fees at Q


def test_every_report_row_carries_evidence(place: Place) -> None:
    refresh(place)
    for name in REPORTS:
        body = ask(place, name, place.admin)
        assert body["items"], name
        for row in body["items"]:
            evidence = row["evidence"]
            assert set(evidence) == {*SHARES, "anomaly_share"}, name
            for value in evidence.values():
                assert value is None or 0 <= value <= 1, (name, row)
    everything = shares(place.stops)
    (corridor,) = ask(place, "corridors", place.admin)["items"]
    assert_shares(corridor["evidence"], everything)
    procedures = ask(place, "procedures", place.admin)["items"]
    (document_check,) = [r for r in procedures if r["procedure"] == "document_check"]
    assert_shares(document_check["evidence"], shares([s for s in place.stops if s.code == "P"]))
    agencies = {r["authority"]: r for r in ask(place, "agencies", place.admin)["items"]}
    assert_shares(agencies["army"]["evidence"], shares([s for s in place.stops if s.code == "P"]))


def test_an_exporter_sees_the_evidence_of_its_own_stops(place: Place) -> None:
    rows = by_code(ask(place, "checkpoints", place.exporters[0]))
    mine = [s for s in place.stops if s.org == 0 and s.code == "P"]
    assert_shares(rows["EV-P"]["evidence"], shares(mine))


def test_a_withdrawn_receipt_leaves_the_share(place: Place, tmp_path: Path) -> None:
    """Withdrawing marks the fee's cell (a trigger on attachments): the refreshed cells and
    the stops say the same, one receipt fewer."""
    refresh(place)
    before = by_code(ask(place, "checkpoints", place.admin))["EV-P"]["evidence"]
    withdrawn, its_stop = place.receipts[0]
    response = place.client.post(
        f"{API}/attachments/{withdrawn}/withdraw",
        json={"reason": "the wrong truck's receipt"},
        headers=place.admin.headers,
    )
    assert response.status_code == 200, response.text
    its_stop.receipt = False  # the truth for this test and the ones after it
    fees = [s for s in place.stops if s.fee_event]
    # Marked, the cell is read from its stops until the refresh: the change shows at once.
    marked = by_code(ask(place, "checkpoints", place.admin))["EV-P"]["evidence"]
    assert marked["fee_receipt_photo_share"] == pytest.approx(
        before["fee_receipt_photo_share"] - 1 / len(fees)
    )
    refresh(place)
    after = by_code(ask(place, "checkpoints", place.admin))["EV-P"]["evidence"]
    assert after["fee_receipt_photo_share"] == pytest.approx(
        sum(s.receipt for s in fees) / len(fees)
    )
    assert after["fee_receipt_photo_share"] == pytest.approx(
        before["fee_receipt_photo_share"] - 1 / len(fees)
    )
    (corridor,) = ask(place, "corridors", place.admin)["items"]
    assert corridor["evidence"]["fee_receipt_photo_share"] == pytest.approx(
        sum(s.receipt for s in fees) / len(fees)
    )
    assert rollups.verify(place.client.app.state.session_factory) == []  # type: ignore[attr-defined]


# --- evidence=confirmed ----------------------------------------------------------------------


def test_confirmed_only_figures_are_those_of_the_confirmed_stops(place: Place) -> None:
    rows = by_code(ask(place, "checkpoints", place.admin, evidence="confirmed"))
    for code in ("P", "Q"):
        mine = [s for s in place.stops if s.code == code and s.evidence == "confirmed"]
        row = rows[f"EV-{code}"]
        assert row["completed_stops"] == len(mine)
        assert row["mean_dwell_minutes"] == pytest.approx(sum(s.dwell for s in mine) / len(mine))
        assert row["evidence"]["gps_confirmed_share"] == 1.0
    everything = by_code(ask(place, "checkpoints", place.admin))
    assert everything["EV-P"]["completed_stops"] == len([s for s in place.stops if s.code == "P"])
    body = ask(place, "checkpoints", place.admin, evidence="confirmed")
    assert body["filters"] == {"evidence": "confirmed"}


def test_confirmed_only_corridors_count_trips_confirmed_at_every_stop(place: Place) -> None:
    (row,) = ask(place, "corridors", place.admin, evidence="confirmed")["items"]
    by_trip = [place.stops[i : i + 2] for i in range(0, len(place.stops), 2)]
    confirmed = [t for t in by_trip if all(s.evidence == "confirmed" for s in t)]
    assert row["trips"] == len(confirmed) == 5  # day 0's trips confirmed at P and at Q
    assert row["evidence"]["gps_confirmed_share"] == 1.0


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_takes_evidence_confirmed(place: Place, name: str) -> None:
    everything = ask(place, name, place.admin)
    confirmed = ask(place, name, place.admin, evidence="confirmed")
    assert confirmed["items"]
    assert confirmed["items"] != everything["items"]


def test_an_unknown_evidence_value_is_a_422(place: Place) -> None:
    response = place.client.get(
        f"{API}/reports/checkpoints", params={"evidence": "maybe"}, headers=place.admin.headers
    )
    assert_problem(response, 422)


# --- advocates ---------------------------------------------------------------------------------


def test_an_advocates_evidence_is_of_the_cells_shown_only(place: Place) -> None:
    """Day 1's cell at P is too thin (two exporters): the advocate's shares over days 0-1
    are those of day 0 alone, and a suppressed row shows no evidence."""
    both = by_code(ask(place, "checkpoints", place.advocate, **{"from": day(0), "to": day(2)}))
    day0 = [s for s in place.stops if s.day == 0 and s.code == "P"]
    assert_shares(both["EV-P"]["evidence"], shares(day0))
    thin = by_code(ask(place, "checkpoints", place.advocate, **{"from": day(1), "to": day(2)}))
    assert thin["EV-P"]["suppressed"] is True
    assert thin["EV-P"]["evidence"] is None


def test_confirmed_only_never_singles_out_the_rest_of_a_cell(place: Place) -> None:
    """Day 2 at P: eleven confirmed stops of four exporters pass on their own, but all stops
    minus the confirmed ones would be one truck. The advocate's confirmed-only answer leaves
    that cell out (and says so); the admin's does not."""
    window = {"from": day(2), "to": day(3)}
    everything = by_code(ask(place, "checkpoints", place.advocate, **window))
    assert everything["EV-P"]["completed_stops"] == 12
    confirmed = ask(place, "checkpoints", place.advocate, evidence="confirmed", **window)
    row = by_code(confirmed)["EV-P"]
    assert row["suppressed"] is True
    assert confirmed["excluded_stops"] >= 11
    exact = by_code(ask(place, "checkpoints", place.admin, evidence="confirmed", **window))
    assert exact["EV-P"]["completed_stops"] == 11
    # Day 0 at P: ten confirmed, ten not, five exporters each side: shown.
    window = {"from": day(0), "to": day(1)}
    day0 = by_code(ask(place, "checkpoints", place.advocate, evidence="confirmed", **window))
    assert day0["EV-P"]["completed_stops"] == 10
    # At Q five confirmed stops are too few: the row is left out.
    assert day0["EV-Q"]["suppressed"] is True


@pytest.mark.parametrize("name", REPORTS)
def test_no_pair_of_advocate_answers_isolates_a_few_stops(place: Place, name: str) -> None:
    """The differencing attack with the new filter: with and without `evidence=confirmed`,
    over every window of whole days, no row differs by 1–9 stops (trips for corridors)."""
    counted = {
        "checkpoints": "completed_stops",
        "agencies": "completed_stops",
        "commodities": "completed_stops",
        "trends": "completed_stops",
        "procedures": "stops_requiring",
        "corridors": "trips",
    }[name]
    for first in range(3):
        for last in range(first + 1, 4):
            window = {"from": day(first), "to": day(last)}
            plain = ask(place, name, place.advocate, **window)["items"]
            only = ask(place, name, place.advocate, evidence="confirmed", **window)["items"]
            key = _labels(name)
            a = {tuple(r.get(k) for k in key): r.get(counted) or 0 for r in plain}
            b = {tuple(r.get(k) for k in key): r.get(counted) or 0 for r in only}
            for row in set(a) | set(b):
                assert not 0 < abs(a.get(row, 0) - b.get(row, 0)) < 10, (name, window, row)


def _labels(name: str) -> tuple[str, ...]:
    return {
        "checkpoints": ("checkpoint_code",),
        "agencies": ("authority", "jurisdiction"),
        "commodities": ("hs_chapter",),
        "trends": ("period_start", "checkpoint_code"),
        "procedures": ("procedure", "checkpoint_code"),
        "corridors": ("origin_province", "destination_province"),
    }[name]


# --- exports -----------------------------------------------------------------------------------


def test_the_csv_has_a_column_per_share(place: Place) -> None:
    response = place.client.get(
        f"{API}/reports/checkpoints", params={"format": "csv"}, headers=place.admin.headers
    )
    assert response.status_code == 200, response.text
    header, *lines = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    columns = list(header)
    for share in (*SHARES, "anomaly_share"):
        assert f"evidence.{share}" in columns
    assert "evidence" not in columns
    p = next(line for line in lines if "EV-P" in line)
    confirmed = float(p[columns.index("evidence.gps_confirmed_share")])
    assert confirmed == pytest.approx(
        shares([s for s in place.stops if s.code == "P"])["gps_confirmed_share"]
    )


def test_the_bulk_rebuild_counts_the_same_evidence(place: Place) -> None:
    """rollup_build.py's numpy path stores the same evidence counts as compute(): verify
    (which recomputes every cell through compute()) finds nothing, and the reports agree."""
    factory = place.client.app.state.session_factory  # type: ignore[attr-defined]
    refresh(place)
    before = {name: ask(place, name, place.admin)["items"] for name in REPORTS}
    assert rollups.rebuild(factory) > 0
    assert rollups.verify(factory) == []
    for name in REPORTS:
        after = ask(place, name, place.admin)["items"]
        assert [r["evidence"] for r in after] == [r["evidence"] for r in before[name]], name
