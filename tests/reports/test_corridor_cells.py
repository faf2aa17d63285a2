"""Corridor cells (app/reports/corridor_cells.py): the corridor report read from them is the
report read from every trip (test_rollups.py compares the two over HTTP); here, that the
report really reads them, that `verify` finds a wrong one, and that the triggers mark the
cells a write touches — and only those a corridor figure depends on."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, func, select, update

from app.reports import corridor_cells, corridors, rollups
from app.reports.filters import ReportFilters
from app.reports.models import CorridorCell, CorridorDirty
from app.shipments.models import Shipment, ShipmentStatus
from app.tracking.models import Stop, StopFee
from tests.reports.builders import World, report
from tests.reports.conftest import client_on
from tests.reports.test_rollups import assert_same


@pytest.fixture(scope="module")
def reader(world_url: str, world: World) -> Iterator[TestClient]:
    with client_on(world_url) as client:
        yield client


def sessions(client: TestClient) -> Any:
    return client.app.state.session_factory  # type: ignore[attr-defined]


def marked(client: TestClient) -> set[tuple[str, str, int]]:
    with sessions(client)() as session:
        return {
            (str(o), str(d), int(day))
            for o, d, day in session.execute(
                select(
                    CorridorDirty.origin_province,
                    CorridorDirty.destination_province,
                    CorridorDirty.departure_day,
                )
            )
        }


def a_trip(session: Any) -> Shipment:
    return session.scalars(
        select(Shipment)
        .where(
            Shipment.departed_at.is_not(None),
            Shipment.status == ShipmentStatus.delivered,
            Shipment.id.in_(select(StopFee.shipment_id)),  # with a fee paid on the way
        )
        .order_by(Shipment.id)
        .limit(1)
    ).one()


def cell_of(trip: Shipment) -> tuple[str, str, int]:
    assert trip.departed_at is not None
    day = (trip.departed_at.date() - trip.departed_at.date().replace(1970, 1, 1)).days
    return (str(trip.origin_province), str(trip.destination_province), day)


def test_the_report_reads_the_cells_and_verify_finds_a_wrong_one(
    reader: TestClient, world: World
) -> None:
    factory = sessions(reader)
    rollups.refresh_all(factory)
    before = report(reader, "corridors", world.admin.headers)
    with factory() as session:
        key = session.execute(
            select(
                CorridorCell.origin_province,
                CorridorCell.destination_province,
                CorridorCell.departure_day,
            ).limit(1)
        ).one()
        session.execute(
            update(CorridorCell)
            .where(
                CorridorCell.origin_province == key[0],
                CorridorCell.destination_province == key[1],
                CorridorCell.departure_day == key[2],
            )
            .values(trips=CorridorCell.trips + 1000)
        )
        session.commit()
    try:
        after = report(reader, "corridors", world.admin.headers)
        trips = {
            (r["origin_province"], r["destination_province"]): r["trips"] for r in after["items"]
        }
        was = {
            (r["origin_province"], r["destination_province"]): r["trips"] for r in before["items"]
        }
        assert trips[(key[0], key[1])] == was[(key[0], key[1])] + 1000
        problems = rollups.verify(factory)
        assert problems == [
            f"corridor_cells: {key[0]} → {key[1]} day {key[2]}: differs from its trips"
        ]
    finally:
        rollups.rebuild(factory)
    assert rollups.verify(factory) == []
    assert report(reader, "corridors", world.admin.headers)["items"] == before["items"]


def test_a_trip_that_departs_another_day_marks_its_old_and_new_cells(
    reader: TestClient,
) -> None:
    factory = sessions(reader)
    rollups.refresh_all(factory)
    with factory() as session:
        trip = a_trip(session)
        old = cell_of(trip)
        departed = trip.departed_at
        assert departed is not None
        trip.departed_at = departed - timedelta(days=1)  # an earlier departure, synced late
        session.commit()
        new = cell_of(trip)
    assert marked(reader) == {old, new}
    assert rollups.refresh_all(factory) == 2
    assert marked(reader) == set()
    assert rollups.verify(factory) == []
    with factory() as session:
        session.execute(update(Shipment).where(Shipment.id == trip.id).values(departed_at=departed))
        session.commit()
    rollups.refresh_all(factory)
    assert rollups.verify(factory) == []


def test_stops_and_fees_mark_their_trips_cell_and_other_writes_do_not(
    reader: TestClient,
) -> None:
    factory = sessions(reader)
    rollups.refresh_all(factory)
    with factory() as session:
        trip = a_trip(session)
        cell = cell_of(trip)
        stop = session.scalars(select(Stop).where(Stop.shipment_id == trip.id).limit(1)).one()
        # What no corridor figure reads: the time of its last event, the trip's last event.
        stop.last_event_at = stop.last_event_at
        session.execute(update(Stop).where(Stop.id == stop.id).values(hold_count=Stop.hold_count))
        session.execute(
            update(Shipment)
            .where(Shipment.id == trip.id)
            .values(last_event_at=func.coalesce(Shipment.last_event_at, Shipment.departed_at))
        )
        session.commit()
        assert marked(reader) == set()
        # A stop's dwell does.
        session.execute(
            update(Stop)
            .where(Stop.id == stop.id)
            .values(dwell_minutes=func.coalesce(Stop.dwell_minutes, 0.0) + 7.0)
        )
        session.commit()
        assert marked(reader) == {cell}
        rollups.refresh_all(factory)
        assert rollups.verify(factory) == []
        # So does a fee's amount on the trip.
        fee = session.scalars(
            select(StopFee).where(StopFee.shipment_id == trip.id).limit(1)
        ).first()
        if fee is not None:
            for change in (+1, -1):
                session.execute(
                    update(StopFee)
                    .where(StopFee.id == fee.id)
                    .values(amount=StopFee.amount + change)
                )
                session.commit()
                assert marked(reader) == {cell}
                rollups.refresh_all(factory)
        session.execute(
            update(Stop).where(Stop.id == stop.id).values(dwell_minutes=Stop.dwell_minutes - 7.0)
        )
        session.commit()
    rollups.refresh_all(factory)
    assert marked(reader) == set()
    assert rollups.verify(factory) == []


def test_a_cancelled_trip_leaves_its_cell(reader: TestClient, world: World) -> None:
    """Being a trip at all is part of the cell: a cancellation (a status change, with no
    stop written) marks it, and the refresh takes the trip out."""
    factory = sessions(reader)
    rollups.refresh_all(factory)
    with factory() as session:
        trip = a_trip(session)
        cell = cell_of(trip)
        before = corridor_cells.stored(session, lambda t: t.departure_day == cell[2])[cell].trips
        status = trip.status
        trip.status = ShipmentStatus.cancelled
        session.commit()
        assert marked(reader) == {cell}
        rollups.refresh_all(factory)
        after = corridor_cells.stored(session, lambda t: t.departure_day == cell[2])
        assert (after[cell].trips if cell in after else 0) == before - 1
        session.execute(update(Shipment).where(Shipment.id == trip.id).values(status=status))
        session.commit()
    rollups.refresh_all(factory)
    assert rollups.verify(factory) == []


def test_many_marked_cells_are_read_in_one_pass_over_the_trips(
    reader: TestClient, world: World, world_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a bulk load (every cell marked), the report reads its trips once rather than
    cell by cell: the same answers as every trip gives."""
    factory = sessions(reader)
    rollups.refresh_all(factory)
    with factory() as session:
        trip = a_trip(session)
        trip.departed_at = trip.departed_at  # unchanged: no mark
        session.execute(
            update(Shipment)
            .where(Shipment.id == trip.id)
            .values(distance_km=func.coalesce(Shipment.distance_km, 0.0) + 1.0)
        )
        session.commit()
    assert marked(reader) == {cell_of(trip)}
    monkeypatch.setattr(corridor_cells, "MAX_MARKED_CELLS", 0)
    with client_on(world_url, report_rollups=False) as every_trip:
        for who in (world.admin, world.advocate):
            for params in ({}, {"destination_province": "baghdad"}):
                got = report(reader, "corridors", who.headers, **params)
                want = report(every_trip, "corridors", who.headers, **params)
                assert_same(got["items"], want["items"])
                assert got["excluded_stops"] == want["excluded_stops"]
    with factory() as session:
        session.execute(
            update(Shipment)
            .where(Shipment.id == trip.id)
            .values(distance_km=Shipment.distance_km - 1.0)
        )
        session.commit()
    rollups.refresh_all(factory)
    assert rollups.verify(factory) == []


def test_stop_records_keep_a_checkpoint_id_that_ends_in_zero_bytes() -> None:
    """numpy's S16 drops trailing zero bytes when a record is read back: the id must come
    back whole (one checkpoint id in 256 ends in a zero byte)."""
    ending_in_zeros = uuid.UUID(bytes=b"\x01" * 14 + b"\x00\x00")
    other = uuid.uuid4()
    packed = np.array(
        sorted(
            [
                (ending_in_zeros.bytes, 1, 3, 12.5),
                (ending_in_zeros.bytes, 0, 1, 2.5),
                (other.bytes, 0, 2, 4.0),
            ]
        ),
        corridor_cells.STOPS,
    ).tobytes()
    group = corridors._Trips()
    corridors._add_stop_records(group, packed)
    assert dict(group.delay_by_checkpoint) == {ending_in_zeros: 15.0, other: 4.0}
    assert (group.stops, group.delay_minutes) == (6, 19.0)
    assert (group.stops_on_known_km, group.delay_on_known_km) == (3, 12.5)


def test_stop_records_of_ids_alike_in_their_first_half_stay_apart() -> None:
    """Records are told apart by their ids' first 8 bytes when those differ; two ids alike
    there (and one ending in zero bytes) are still two checkpoints, with their own delays."""
    alike = [uuid.UUID(bytes=b"\x07" * 8 + bytes([n]) * 6 + b"\x00\x00") for n in (1, 2)]
    other = uuid.UUID(bytes=b"\x00" * 16)
    records = [(alike[0], 3, 1.5), (alike[1], 1, 2.0), (other, 2, 4.0), (alike[0], 1, 0.25)]
    packed = np.array(
        [(cp.bytes, 1, n, delay) for cp, n, delay in records], corridor_cells.STOPS
    ).tobytes()
    group = corridors._Trips()
    corridors._add_stop_records(group, packed)
    assert dict(group.delay_by_checkpoint) == {alike[0]: 1.75, alike[1]: 2.0, other: 4.0}
    distinct = [uuid.uuid4() for _ in range(5)]
    packed = np.array(
        [(cp.bytes, 0, 1, float(i)) for i, cp in enumerate(distinct * 3)], corridor_cells.STOPS
    ).tobytes()
    group = corridors._Trips()
    corridors._add_stop_records(group, packed)
    assert dict(group.delay_by_checkpoint) == {cp: 3.0 * i + 15 for i, cp in enumerate(distinct)}
    corridors._add_stop_records(group, b"")
    assert group.stops == 15


def test_distinct_keys_are_numpys_even_for_a_key_the_sample_misses() -> None:
    """corridors._distinct finds the distinct keys from a sample, then adds those the
    sample missed: the answer is np.unique's, with a key seen once among thousands."""
    rng = np.random.default_rng(5)
    common = rng.integers(0, 2**64, 40, dtype=np.uint64)
    keys = rng.choice(common, 30_000)
    keys[12_345] = np.uint64(2**63 + 7)  # once, off the sample's stride
    for case_keys in (keys, keys[:1], keys[:0], np.repeat(common[:1], 5_000)):
        found, where = corridors._distinct(case_keys)
        want_found, want_where = np.unique(case_keys, return_inverse=True)
        assert found.tolist() == want_found.tolist()
        assert where.tolist() == want_where.tolist()


def test_the_module_alone_reads_exporter_ids_as_ids() -> None:
    """A process that imports only corridor_cells (a script, a CLI command) must know the
    type of the trips' exporter column, which comes from the table it points at: without
    it an id reads back as text on SQLite and the cell's exporters cannot be packed."""
    probe = (
        "from app.reports import corridor_cells\n"
        "from app.shipments.models import Shipment\n"
        "print(type(Shipment.__table__.c.organization_id.type).__name__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "Uuid"


def test_a_marked_cell_is_left_out_of_an_admins_sums_and_read_from_its_trips(
    reader: TestClient, world: World, world_url: str
) -> None:
    """An admin's corridors are the cells added up by the database (corridor_cells.summed):
    a cell marked for a refresh is left out of that sum in the statement and read from its
    trips, however wrong its row; per corridor the sums are the cells' one by one."""
    factory = sessions(reader)
    rollups.refresh_all(factory)
    with factory() as session:
        trip = a_trip(session)
        key = cell_of(trip)
        in_cell = and_(
            CorridorCell.origin_province == key[0],
            CorridorCell.destination_province == key[1],
            CorridorCell.departure_day == key[2],
        )
        session.execute(update(CorridorCell).where(in_cell).values(trips=CorridorCell.trips + 1000))
        session.add(
            CorridorDirty(origin_province=key[0], destination_province=key[1], departure_day=key[2])
        )
        session.commit()
    try:
        with factory() as session:
            every = corridor_cells.in_scope(session, ReportFilters())
            by_corridor = corridor_cells.summed_in_scope(session, ReportFilters())
        assert every[key].trips < 1000  # from its trips
        assert by_corridor.keys() == {k[:2] for k in every}
        for corridor, parts in by_corridor.items():
            cells = [cell for k, cell in every.items() if k[:2] == corridor]
            for name in ("trips", "delivered", "timed_trips", "confirmed_stops", "fee_events"):
                assert sum(getattr(p, name) for p in parts) == sum(getattr(c, name) for c in cells)
            for name in ("transit", "stops", "fees", "timed_fees"):
                width = {"transit": 8, "stops": 33, "fees": 20, "timed_fees": 11}[name]
                got = b"".join(getattr(p, name) for p in parts)
                want = b"".join(getattr(c, name) for c in cells)
                assert sorted(got[i : i + width] for i in range(0, len(got), width)) == sorted(
                    want[i : i + width] for i in range(0, len(want), width)
                ), (corridor, name)
        with client_on(world_url, report_rollups=False) as every_trip:
            got = report(reader, "corridors", world.admin.headers)
            want = report(every_trip, "corridors", world.admin.headers)
            assert_same(got["items"], want["items"])
    finally:
        rollups.rebuild(factory)
    assert rollups.verify(factory) == []


def test_a_few_cells_computed_from_their_trips_are_those_of_every_trip(
    reader: TestClient,
) -> None:
    """compute() of a few cells (as a refresh of marked cells or a report's live parts asks
    for them), fees included, gives them as compute() of every trip does."""
    with sessions(reader)() as session:
        every = corridor_cells.compute(session, lambda: Shipment.departed_at.is_not(None))
        assert sum(cell.fee_events for cell in every.values()) > 0
        with_fees = sorted((key for key, cell in every.items() if cell.fee_events), key=str)
        some = with_fees[:2] + sorted(every, key=str)[:2]
        few = corridor_cells.compute(session, corridor_cells.of_keys(some))
        assert few.keys() == set(some)
        assert all(few[key].same_as(every[key]) for key in some)
