"""The bulk rebuild of the rollups (app/reports/rollup_build.py, called by rollups.rebuild())
stores the very rows that rollups.compute() / compute_procedures() and store() /
store_procedures() store, row for row.

The reports' world (tests/reports/builders.py: holds of several reasons, fees in IQD and USD
with and without receipts, stops left open, turned back, shipments of one HS chapter and of
several) gets rows the API does not make, written straight into the tables as a bulk load
or a repair by hand would: fees in more currencies with amounts of a few cents, stops with
no arrival, stops with no cargo chapters, a stop of unknown time with procedure runs timed
and not. Then each table is compared: every column equal, the float sums to 1e-9 relative
(they are added in another order).
"""

import itertools
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db import write_transaction
from app.reports import rollup_build, rollups
from app.reports.models import DayCell, DayCellCargo, DayCellProcedure, RollupDirty
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from tests.reports.builders import World
from tests.reports.conftest import client_on

SUMS = {"total_dwell_minutes", "minutes", "untimed_minutes"}  # added in another order
TABLES = (DayCell, DayCellCargo, DayCellProcedure)


@pytest.fixture(scope="module")
def sessions(world_url: str, world: World) -> Iterator[Any]:
    with client_on(world_url) as client:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        _add_odd_rows(factory)
        yield factory


def _of_stop(stop: dict[str, Any]) -> dict[str, Any]:
    """The columns holds, procedures and fees copy from their stop."""
    keys = ("shipment_id", "organization_id", "checkpoint_id", "arrived_at", "arrival_day")
    return {"stop_id": stop["id"], "hs_chapters": stop["hs_chapters"], **{k: stop[k] for k in keys}}


def _add_odd_rows(sessions: Any) -> None:
    with sessions() as session, write_transaction(session):
        stops = [dict(row) for row in session.execute(select(Stop.__table__)).mappings()]
        timed = [s for s in stops if s["dwell_minutes"] is not None]
        # Fees in more currencies, of a few cents and of fractions of a unit, with and
        # without receipts, at stops of both kinds of cargo.
        amounts = [
            ("EUR", "0.35"),
            ("TRY", "1234.56"),
            ("KWD", "0.01"),
            ("EUR", "19.99"),
            ("AED", "7.05"),
        ]
        for n, stop in enumerate(timed[:40]):
            currency, amount = amounts[n % len(amounts)]
            session.execute(
                StopFee.__table__.insert(),
                {
                    **_of_stop(stop),
                    "origin_province": stop["origin_province"],
                    "destination_province": stop["destination_province"],
                    "trip_has_distance": stop["trip_has_distance"],
                    "amount": Decimal(amount),
                    "currency": currency,
                    "receipt": n % 3 == 0,
                    "paid_at": stop["arrived_at"],
                    "event_id": uuid.uuid4(),
                },
            )
        model = timed[0]

        def copy(seq: int, **changes: Any) -> dict[str, Any]:
            stop = {**model, "id": uuid.uuid4(), "seq": model["seq"] + seq, **changes}
            session.execute(Stop.__table__.insert(), stop)
            return stop

        # A stop with no arrival (its runs and fees have no day either): no cell has it.
        nowhere = copy(100, arrived_at=None, arrival_day=None, dwell_minutes=None)
        # No cargo chapters ("" in the cargo cells), in a day cell of other stops.
        bare = copy(101, hs_chapters=None, dwell_minutes=model["dwell_minutes"] + 0.5)
        # A stop of unknown time, held twice, with runs timed and not, repeated.
        unknown = copy(102, dwell_minutes=None, outcome="open", hold_count=2)
        for stop in (nowhere, bare, unknown):
            for procedure, minutes, run in [
                ("document_check", None, 1),
                ("document_check", 12.25, 2),
                ("xray_scan", 3.0, 1),
                ("queue", None, 1),
            ]:
                session.execute(
                    StopProcedure.__table__.insert(),
                    {
                        **_of_stop(stop),
                        "procedure": procedure,
                        "started_at": stop["arrived_at"] or model["arrived_at"],
                        "completed_at": None,
                        "minutes": minutes,
                        "run_number": run,
                    },
                )
            for reason in ("security", "road_closed"):
                session.execute(
                    StopHold.__table__.insert(),
                    {
                        **_of_stop(stop),
                        "reason": reason,
                        "started_at": model["arrived_at"],
                        "ended_at": model["arrived_at"] + timedelta(minutes=20),
                        "minutes": 20.0,
                        "event_id": uuid.uuid4(),
                    },
                )
            session.execute(
                StopFee.__table__.insert(),
                {
                    **_of_stop(stop),
                    "origin_province": stop["origin_province"],
                    "destination_province": stop["destination_province"],
                    "trip_has_distance": stop["trip_has_distance"],
                    "amount": Decimal("0.07"),
                    "currency": "USD",
                    "receipt": False,
                    "paid_at": model["arrived_at"],
                    "event_id": uuid.uuid4(),
                },
            )


def _rows(session: Session) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for model in TABLES:
        table = model.__table__
        keys = [column for column in table.primary_key.columns]
        rows = session.execute(select(table).order_by(*keys)).mappings()
        found[table.name] = [dict(row) for row in rows]
    return found


def _by_compute_and_store(sessions: Any) -> dict[str, list[dict[str, Any]]]:
    """Every cell as refresh() would store it: compute() + store() over every day."""

    def with_a_day(table: Any) -> Any:
        return table.arrival_day.is_not(None)

    with sessions() as session, write_transaction(session):
        for model in TABLES:
            session.execute(delete(model))
        for family in (DayCell, DayCellCargo):
            figures = rollups.compute(session, with_a_day, cargo=family is DayCellCargo)
            rollups.store(session, family, [], figures)
        rollups.store_procedures(session, [], rollups.compute_procedures(session, with_a_day))
    with sessions() as session:
        return _rows(session)


def _assert_same_rows(got: dict[str, list[dict[str, Any]]], want: Any) -> None:
    assert got.keys() == want.keys()
    for table in want:
        assert len(got[table]) == len(want[table]), table
        for mine, theirs in zip(got[table], want[table], strict=True):
            assert mine.keys() == theirs.keys()
            for column, value in theirs.items():
                if column in SUMS:
                    assert math.isclose(mine[column], value, rel_tol=1e-9, abs_tol=1e-9), (
                        table,
                        column,
                        mine,
                        theirs,
                    )
                else:
                    assert mine[column] == value, (table, column, mine, theirs)


@pytest.mark.parametrize(
    ("days_per_round", "batch", "parallel"),
    [(1, None, 1), (3, None, 1), (7, 5, 1), (1000, None, 1), (1000, 7, 1), (1, None, 2), (2, 5, 3)],
)
def test_the_bulk_rebuild_stores_what_compute_and_store_store(
    sessions: Any,
    days_per_round: int,
    batch: int | None,
    parallel: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if batch is not None:  # rows read and written a few at a time, as a large round's are
        monkeypatch.setattr(rollup_build, "CHUNK_ROWS", batch)
        monkeypatch.setattr(rollup_build, "INSERT_ROWS", batch)
    want = _by_compute_and_store(sessions)
    # The world has what the comparison must cover.
    cargo = want["day_cell_cargo"]
    runs = want["day_cell_procedures"]
    assert {row["hs_chapters"] for row in cargo} >= {"", "25", "72"}
    assert any("," in row["hs_chapters"] for row in cargo)
    assert any(len(row["fees"]) >= 3 * rollups.FEES.itemsize for row in want["day_cells"])
    assert any(len(row["holds"]) >= 2 * rollups.HOLDS.itemsize for row in want["day_cells"])
    assert any(len(row["exporters"]) >= 32 for row in want["day_cells"])
    assert any(row["untimed_minutes"] > 0 for row in runs)
    assert any(row["timed_runs"] < row["first_runs"] for row in runs)

    with sessions() as session, write_transaction(session):
        for model in TABLES:
            session.execute(delete(model))
    threads: set[str] = set()
    build = rollup_build.build
    with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
    # Two rounds at once really: the first two wait for each other (a pool of one thread
    # would break the barrier). (`batch` changes SQLite's reading only: PostgreSQL reads a
    # round as one text.)
    together = threading.Barrier(2, timeout=30) if parallel > 1 and postgres else None
    calls = itertools.count()

    def noting_the_thread(*args: Any) -> int:
        threads.add(threading.current_thread().name)
        if together is not None and next(calls) < 2:
            together.wait()
        return build(*args)

    monkeypatch.setattr(rollup_build, "build", noting_the_thread)
    stored = rollups.rebuild(sessions, days_per_round=days_per_round, parallel=parallel)
    with sessions() as session:
        got = _rows(session)
    # PostgreSQL computes `parallel` rounds at once, on the pool's threads; SQLite (one
    # writer) always in the caller's thread.
    on_pool = {name.startswith("rebuild") for name in threads}
    assert on_pool == {parallel > 1 and postgres}, threads
    assert stored == len(want["day_cells"])
    _assert_same_rows(got, want)
    assert rollups.verify(sessions) == []


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_failing_round_ends_the_rebuild_with_its_error(
    sessions: Any, parallel: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, started, lock = rollup_build.build, [], threading.Lock()

    def failing_the_second(session: Session, start: int, end: int) -> int:
        with lock:
            started.append(start)
            second = len(started) == 2
        if second:
            raise RuntimeError("the second round failed")
        return build(session, start, end)

    monkeypatch.setattr(rollup_build, "build", failing_the_second)
    with pytest.raises(RuntimeError, match="the second round failed"):
        rollups.rebuild(sessions, days_per_round=1, parallel=parallel)
    with sessions() as session:
        days = session.execute(select(func.min(Stop.arrival_day), func.max(Stop.arrival_day)))
        first, last = days.one()
    assert last - first + 1 > 4  # rounds enough that giving up shows
    # No round starts after the failure: at most the one running beside it had begun.
    assert len(started) <= 2 + (parallel - 1)
    monkeypatch.undo()
    rollups.rebuild(sessions, parallel=parallel)  # and a rebuild afterwards mends it all
    assert rollups.verify(sessions) == []


def test_a_rebuild_clears_the_marks_and_a_later_write_marks_again(sessions: Any) -> None:
    with sessions() as session, write_transaction(session):
        stop = session.execute(select(Stop.id, Stop.dwell_minutes).limit(1)).one()
        session.execute(
            Stop.__table__.update().where(Stop.id == stop.id).values(dwell_minutes=stop[1])
        )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RollupDirty))
    rollups.rebuild(sessions)
    with sessions() as session:
        assert not session.scalar(select(func.count()).select_from(RollupDirty))
    assert rollups.verify(sessions) == []
    # A write after the rebuild's start is marked and refreshed as before.
    with sessions() as session, write_transaction(session):
        session.execute(
            Stop.__table__.update().where(Stop.id == stop.id).values(hold_count=Stop.hold_count + 1)
        )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RollupDirty))
    rollups.refresh_all(sessions)
    assert rollups.verify(sessions) == []


def test_a_null_number_is_nan_and_a_null_integer_is_refused(sessions: Any) -> None:
    """columns() as both databases read it (PostgreSQL: one text parsed by pyarrow): a NULL
    float is NaN, an empty text stays "", and a NULL integer never becomes a number."""
    with sessions() as session:
        db = rollup_build._Driver(session)
        chapters = rollup_build._Index()
        values, texts = db.columns(
            "SELECT CAST(NULL AS DOUBLE PRECISION), '' WHERE 1 = ?"
            " UNION ALL SELECT 2.5, '25,72' WHERE 1 = ? ORDER BY 2",
            (1, 1),
            (np.float64, chapters),
        )
        assert np.isnan(values[0])
        assert values[1] == 2.5
        assert list(chapters) == ["", "25,72"]
        assert texts.tolist() == [0, 1]
        with pytest.raises((ValueError, TypeError)):
            db.columns("SELECT CAST(NULL AS BIGINT) WHERE 1 = ?", (1,), (np.int64,))
