"""Reports from day-cell rollups (app/reports/rollups.py) give the very figures the stops give.

The reports' world (tests/reports/builders.py) is read twice over HTTP, by an app that reads
the rollups and by one that reads every stop (REPORT_ROLLUPS=false), for admins, advocates
and exporters, with and without windows, before the rollups are built (every cell marked:
read from the stops), after a refresh (read from the rollups), and after new events marked
some cells again. Then the rollups are checked against the stops (verify), tampered with to
prove the reports really read them, and the triggers are checked to mark every change.
"""

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from app.reports import rollups, value_index
from app.reports.models import DayCell, DayCellProcedure, MonthCell, RollupDirty, WeekCell
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from tests.reports.builders import World, report
from tests.reports.conftest import client_on

# Small thresholds so that an advocate's answers in this small world hold cells at all.
PRIVACY = {"report_min_exporters": 2, "report_min_stops": 2}
CHAPTER = "25"  # cement: carried with other chapters by some of the world's shipments

QUESTIONS: list[tuple[str, dict[str, str]]] = [
    ("checkpoints", {}),
    ("agencies", {}),
    ("commodities", {}),
    ("procedures", {}),
    ("procedures", {"by": "checkpoint"}),
    ("trends", {"interval": "week"}),
    ("trends", {"interval": "month"}),
    ("trends", {"interval": "week", "by": "checkpoint"}),
    ("trends", {"interval": "month", "by": "checkpoint"}),
    # Corridor cells (corridor_cells.py): their own cells (origin × destination × day of
    # departure), the destination a key of theirs.
    ("corridors", {}),
    ("corridors", {"destination_province": "baghdad"}),
]


def windows(world: World) -> list[dict[str, str]]:
    """No window, whole days, (admins only) a window starting and ending inside a day, and
    the chapter filter, alone and with whole days."""
    midnight = world.now.replace(hour=0, minute=0, second=0, microsecond=0)
    whole = {
        "from": (midnight - timedelta(days=20)).isoformat(),
        "to": (midnight - timedelta(days=3)).isoformat(),
    }
    inside = {
        "from": (midnight - timedelta(days=20, hours=-7, minutes=-13)).isoformat(),
        "to": (midnight - timedelta(days=3, hours=-15)).isoformat(),
    }
    # Whole calendar months (an admin's read as month cells) with days on either side.
    months = {"from": "2026-09-15T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
    months_inside = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-20T10:00:00Z"}
    return [
        {},
        whole,
        inside,
        {"hs_chapter": CHAPTER},
        {**whole, "hs_chapter": CHAPTER},
        months,
        months_inside,
        {**months, "hs_chapter": CHAPTER},
    ]


def whole_days(window: dict[str, str]) -> bool:
    return all(
        datetime.fromisoformat(window[end]).time() == dt_time(0)
        for end in ("from", "to")
        if end in window
    )


@pytest.fixture(scope="module")
def stop_reader(world_url: str, world: World) -> Iterator[TestClient]:
    with client_on(world_url, report_rollups=False, **PRIVACY) as client:
        yield client


@pytest.fixture(scope="module")
def cell_reader(world_url: str, world: World) -> Iterator[TestClient]:
    with client_on(world_url, **PRIVACY) as client:
        yield client


def answers(client: TestClient, world: World, who: str) -> list[dict[str, Any]]:
    headers = {
        "admin": world.admin.headers,
        "advocate": world.advocate.headers,
        "exporter": next(iter(world.exporters.values())).headers,
    }[who]
    found = []
    for name, params in QUESTIONS:
        for window in windows(world) if who == "admin" else filter(whole_days, windows(world)):
            body = report(client, name, headers, **params, **window)
            found.append({k: v for k, v in body.items() if k not in ("generated_at", "as_of")})
    return found


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, with floats equal to 1e-9 relative (sums are added in another order)."""
    if isinstance(want, float) and isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict), (where, got, want)
        assert got.keys() == want.keys(), (where, got, want)
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list), (where, got, want)
        assert len(got) == len(want), (where, got, want)
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    else:
        assert got == want, (where, got, want)


def sessions(client: TestClient) -> Any:
    return client.app.state.session_factory  # type: ignore[attr-defined]


def marks(client: TestClient) -> int:
    with sessions(client)() as session:
        return int(session.scalar(select(func.count()).select_from(RollupDirty)) or 0)


@pytest.mark.parametrize("who", ["admin", "advocate", "exporter"])
def test_rollups_answer_as_the_stops_do_before_and_after_a_refresh(
    stop_reader: TestClient, cell_reader: TestClient, world: World, who: str
) -> None:
    want = answers(stop_reader, world, who)
    # The world has figures to compare, for an advocate too (rows shown, not only suppressed),
    # with the chapter filter as well.
    assert any(not item["suppressed"] for body in want for item in body["items"])
    chapter_rows = [i for b in want if b["filters"].get("hs_chapter") for i in b["items"]]
    assert any(not item["suppressed"] for item in chapter_rows)
    assert_same(answers(cell_reader, world, who), want, "marked")
    rollups.refresh_all(sessions(cell_reader))
    assert marks(cell_reader) == 0
    assert_same(answers(cell_reader, world, who), want, "refreshed")
    assert rollups.verify(sessions(cell_reader)) == []


def test_reports_read_the_rollups_and_verify_finds_a_wrong_one(
    stop_reader: TestClient, cell_reader: TestClient, world: World
) -> None:
    rollups.refresh_all(sessions(cell_reader))
    with sessions(cell_reader)() as session:
        cell = session.execute(select(DayCell.checkpoint_id, DayCell.arrival_day).limit(1)).one()
        session.execute(
            update(DayCell)
            .where(DayCell.checkpoint_id == cell[0], DayCell.arrival_day == cell[1])
            .values(stops=DayCell.stops + 1000)
        )
        session.commit()
    try:
        # A window of that one day: no whole week or month in it, its day cells answer.
        day = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=cell[1])
        window = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
        from_cells = report(cell_reader, "trends", world.admin.headers, interval="week", **window)
        from_stops = report(stop_reader, "trends", world.admin.headers, interval="week", **window)
        assert sum(r["stops"] for r in from_cells["items"]) == 1000 + sum(
            r["stops"] for r in from_stops["items"]
        )
        # The day row differs from its stops, its month and week rows from their day rows.
        problems = rollups.verify(sessions(cell_reader))
        assert len(problems) == 3
        assert problems[0].startswith(f"day_cells: checkpoint {cell[0]} day {cell[1]}:")
        month, week = rollups.month_start(cell[1]), rollups.week_start(cell[1])
        assert problems[1].startswith(
            f"month_cells: checkpoint {cell[0]} month starting day {month}"
        )
        assert problems[2].startswith(f"week_cells: checkpoint {cell[0]} week starting day {week}")
    finally:
        rollups.rebuild(sessions(cell_reader))
    assert rollups.verify(sessions(cell_reader)) == []
    assert_same(answers(cell_reader, world, "admin"), answers(stop_reader, world, "admin"))


def test_admins_read_month_cells_and_verify_finds_a_wrong_one(
    stop_reader: TestClient, cell_reader: TestClient, world: World
) -> None:
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    with factory() as session:
        cell = session.execute(
            select(MonthCell.checkpoint_id, MonthCell.arrival_day).limit(1)
        ).one()
        session.execute(
            update(MonthCell)
            .where(MonthCell.checkpoint_id == cell[0], MonthCell.arrival_day == cell[1])
            .values(stops=MonthCell.stops + 1000)
        )
        session.commit()
    try:
        for who, more in ((world.admin, 1000), (world.advocate, 0)):  # advocates: day cells
            from_cells = report(cell_reader, "checkpoints", who.headers)
            from_stops = report(stop_reader, "checkpoints", who.headers)
            assert sum(r["stops"] or 0 for r in from_cells["items"]) == more + sum(
                r["stops"] or 0 for r in from_stops["items"]
            )
        problems = rollups.verify(factory)
        assert problems == [
            f"month_cells: checkpoint {cell[0]} month starting day {cell[1]}: differs from its days"
        ]
        # A marked day in that month: the month is read by its days, right again.
        with factory() as session:
            session.add(RollupDirty(checkpoint_id=cell[0], arrival_day=cell[1] + 2))
            session.commit()
        assert_same(
            report(cell_reader, "checkpoints", world.admin.headers)["items"],
            report(stop_reader, "checkpoints", world.admin.headers)["items"],
        )
    finally:
        rollups.rebuild(factory)
    assert rollups.verify(factory) == []


def test_admins_read_week_cells_and_advocates_never_do(
    stop_reader: TestClient, cell_reader: TestClient, world: World
) -> None:
    """A week row made wrong shows in an admin's weekly trends per checkpoint, never in an
    advocate's (their protected answers are sums of day cells only). (An admin's trend over
    the whole network reads the network's weeks: test_network_cells.py.)"""
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    with factory() as session:
        cell = session.execute(select(WeekCell.checkpoint_id, WeekCell.arrival_day).limit(1)).one()
        session.execute(
            update(WeekCell)
            .where(WeekCell.checkpoint_id == cell[0], WeekCell.arrival_day == cell[1])
            .values(stops=WeekCell.stops + 1000)
        )
        session.commit()
    try:
        for who, more in ((world.admin, 1000), (world.advocate, 0)):
            from_cells = report(
                cell_reader, "trends", who.headers, interval="week", by="checkpoint"
            )
            from_stops = report(
                stop_reader, "trends", who.headers, interval="week", by="checkpoint"
            )
            assert sum(r["stops"] or 0 for r in from_cells["items"]) == more + sum(
                r["stops"] or 0 for r in from_stops["items"]
            )
    finally:
        rollups.rebuild(factory)
    assert rollups.verify(factory) == []


def test_percentiles_from_dwell_indexes_answer_as_the_stops_do(
    stop_reader: TestClient,
    cell_reader: TestClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every cell read by its dwell index and slices of its values (this world's cells are
    too small for it otherwise): every figure of every question as the stops give it, and a
    wrong index is found by verify-rollups."""
    monkeypatch.setattr(value_index, "INDEXED_FROM", 1)
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    assert_same(answers(cell_reader, world, "admin"), answers(stop_reader, world, "admin"))
    with factory() as session:
        cell = session.execute(
            select(MonthCell.checkpoint_id, MonthCell.arrival_day)
            .where(MonthCell.timed_stops > 1)
            .limit(1)
        ).one()
        session.execute(
            update(MonthCell)
            .where(MonthCell.checkpoint_id == cell[0], MonthCell.arrival_day == cell[1])
            .values(dwell_index=b"")
        )
        run = session.execute(
            select(
                DayCellProcedure.checkpoint_id,
                DayCellProcedure.arrival_day,
                DayCellProcedure.procedure,
            )
            .where(DayCellProcedure.timed_runs > 0)
            .limit(1)
        ).one()
        session.execute(
            update(DayCellProcedure)
            .where(
                DayCellProcedure.checkpoint_id == run[0],
                DayCellProcedure.arrival_day == run[1],
                DayCellProcedure.procedure == run[2],
            )
            .values(minute_index=b"")
        )
        session.commit()
    try:
        assert sorted(rollups.verify(factory)) == sorted(
            [
                f"day_cell_procedures: checkpoint {run[0]} day {run[1]} {run[2]!r}: its "
                "minute_index differs from its values",
                f"month_cells: checkpoint {cell[0]} day {cell[1]}: its dwell_index differs "
                "from its values",
            ]
        )
    finally:
        rollups.rebuild(factory)
    assert rollups.verify(factory) == []


def move_day(session: Any, stop_id: Any, days: int) -> None:
    """Moves a stop's arrival by whole days, with its holds, procedures and fees (which carry
    the stop's arrival), as the writer would rewrite them."""
    for table in (Stop, StopHold, StopProcedure, StopFee):
        key = table.id if table is Stop else table.stop_id
        for row_id, arrived_at in session.execute(
            select(table.id, table.arrived_at).where(key == stop_id)
        ):
            session.execute(
                update(table)
                .where(table.id == row_id)
                .values(
                    arrived_at=arrived_at + timedelta(days=days),
                    arrival_day=table.arrival_day + days,
                )
            )


def test_a_changed_stop_marks_its_old_and_new_cells_and_a_refresh_follows(
    cell_reader: TestClient, stop_reader: TestClient, world: World
) -> None:
    rollups.refresh_all(sessions(cell_reader))
    factory = sessions(cell_reader)
    with factory() as session:
        stop = session.scalars(
            select(Stop).where(Stop.arrival_day.is_not(None)).order_by(Stop.id).limit(1)
        ).one()
        old_cell = (stop.checkpoint_id, stop.arrival_day)
        # Moved to the next day (a late correction of its arrival), with its holds,
        # procedures and fees, as the writer rewrites them.
        move_day(session, stop.id, +1)
        session.commit()
        marked = set(session.execute(select(RollupDirty.checkpoint_id, RollupDirty.arrival_day)))
    assert marked == {old_cell, (old_cell[0], old_cell[1] + 1)}
    # Marked cells are read from the stops: the reports agree before any refresh.
    assert_same(answers(cell_reader, world, "admin"), answers(stop_reader, world, "admin"))
    assert rollups.refresh_all(sessions(cell_reader)) == 2
    assert rollups.verify(factory) == []
    with factory() as session:
        move_day(session, stop.id, -1)
        session.commit()
    rollups.refresh_all(factory)
    assert_same(answers(cell_reader, world, "admin"), answers(stop_reader, world, "admin"))


def test_a_refresh_keeps_the_marks_it_did_not_read(cell_reader: TestClient) -> None:
    """Marks appended after a refresh read its marks stay for the next refresh: deleted by
    id, never by cell."""
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    with factory() as session:
        cell = session.execute(select(DayCell.checkpoint_id, DayCell.arrival_day).limit(1)).one()
        session.execute(text("DELETE FROM rollup_dirty"))
        session.add(RollupDirty(checkpoint_id=cell[0], arrival_day=cell[1]))
        session.commit()
    assert rollups.refresh(factory, batch=1) == 1
    with factory() as session:
        session.add(RollupDirty(checkpoint_id=cell[0], arrival_day=cell[1]))
        session.commit()
    assert marks(cell_reader) == 1
    assert rollups.refresh(factory) == 1
    assert marks(cell_reader) == 0


def test_a_cell_left_without_stops_leaves_the_rollups(cell_reader: TestClient) -> None:
    """A cell whose stops all moved away (a rebuilt projection) must vanish from the rollups
    at its refresh, not keep its old figures."""
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    with factory() as session:
        checkpoint_id = session.scalar(select(DayCell.checkpoint_id).limit(1))
        session.add(
            DayCell(
                checkpoint_id=checkpoint_id,
                arrival_day=1,  # 1970-01-02: no stop arrived then
                stops=3,
                completed_stops=3,
                timed_stops=0,
                total_dwell_minutes=0.0,
                held_stops=0,
                turned_back_stops=0,
                dwell_values=b"",
                dwell_index=b"",
                holds=b"",
                fees=b"",
                exporters=b"",
            )
        )
        session.add(RollupDirty(checkpoint_id=checkpoint_id, arrival_day=1))
        session.commit()
    assert rollups.refresh_all(factory) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).where(DayCell.arrival_day == 1)) == 0
    assert rollups.verify(factory) == []


def test_the_server_refreshes_marked_cells_by_itself(world_url: str, world: World) -> None:
    """With REFRESH on (every worker's default), marked cells are recomputed within seconds
    of a write, without anyone asking."""
    with client_on(world_url, rollup_refresh_seconds=0.2) as client:
        factory = sessions(client)
        with factory() as session:
            cell = session.execute(select(Stop.checkpoint_id, Stop.arrival_day).limit(1)).one()
            session.add(RollupDirty(checkpoint_id=cell[0], arrival_day=cell[1]))
            session.commit()
        deadline = time.monotonic() + 5
        while marks(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marks(client) == 0
        assert rollups.verify(factory) == []


@pytest.mark.parametrize("who", ["admin", "advocate"])
def test_a_question_mostly_marked_reads_its_stops_in_one_pass(
    stop_reader: TestClient,
    cell_reader: TestClient,
    world: World,
    who: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a bulk load (every cell marked) a question reads its stops in one pass instead of
    naming thousands of cells: the same answers."""
    factory = sessions(cell_reader)
    rollups.refresh_all(factory)
    with factory() as session:
        session.execute(
            text(
                "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) SELECT DISTINCT "
                "checkpoint_id, arrival_day FROM stops WHERE arrival_day IS NOT NULL"
            )
        )
        session.commit()
    monkeypatch.setattr(rollups, "MAX_MARKED_CELLS", 3)
    assert_same(answers(cell_reader, world, who), answers(stop_reader, world, who))
    rollups.refresh_all(factory)
