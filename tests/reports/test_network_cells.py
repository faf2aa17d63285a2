"""The network's weeks and months of cargo (rollups.WEEK.networks, MONTH.networks): every
checkpoint's week cell merged into one row per settled week, read by an admin's weekly trend
over the whole network, and every checkpoint's month cargo cells per month and chapter set,
read by an admin's commodity report.

They hold what their week cells hold (counts, sorted dwell times, holds, fees, evidence); an
admin's weekly trend over every checkpoint reads them, and nothing else does: a trend per
checkpoint, an advocate's, a question narrowed to a province, a network where a checkpoint
has a target of its own, a week with a marked day. The current week has none; the refreshes
write the settled weeks without rows, a few at a time. (The procedures' network months are
tested with the procedure groups.)
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from app.checkpoints.models import Checkpoint
from app.reports import rollups
from app.reports.models import (
    NETWORK,
    DayCell,
    MonthCellCargo,
    MonthNetworkCargo,
    RollupDirty,
    WeekCell,
    WeekNetworkCell,
)
from tests.reports.builders import World, report
from tests.reports.conftest import client_on

FLOAT64 = np.dtype("<f8")


@pytest.fixture(scope="module")
def reader(world_url: str, world: World) -> Iterator[TestClient]:
    with client_on(world_url, rollup_refresh_seconds=0) as client:
        rollups.refresh_all(client.app.state.session_factory)  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def factory(reader: TestClient) -> Iterator[sessionmaker[Session]]:
    """The reader's sessions; the rollups rebuilt after the test (some make rows wrong)."""
    found: sessionmaker[Session] = reader.app.state.session_factory  # type: ignore[attr-defined]
    yield found
    with found() as session:
        session.execute(update(Checkpoint).values(target_minutes=None))
        session.commit()
    rollups.rebuild(found)
    assert rollups.verify(found) == []


def weekly(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = report(client, "trends", headers, interval="week", **params)[
        "items"
    ]
    return items


def network_weeks(factory: sessionmaker[Session]) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(WeekNetworkCell.arrival_day)))


def a_day_in(factory: sessionmaker[Session], start: int, days: int = 7) -> tuple[Any, int]:
    """A day cell of the period of `days` days from `start`."""
    with factory() as session:
        found = session.execute(
            select(DayCell.checkpoint_id, DayCell.arrival_day).where(
                DayCell.arrival_day >= start, DayCell.arrival_day < start + days
            )
        ).first()
    assert found is not None
    return found[0], found[1]


def test_a_network_week_is_its_week_cells_merged(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        network = rollups.stored(session, lambda table: true(), WeekNetworkCell)
        weeks = rollups.stored(session, lambda table: true(), WeekCell, exporters=False)
    parts: dict[Any, list[rollups.CellFigures]] = {}
    for (_, week), cell in weeks.items():
        if week + 7 + rollups.SETTLED_DAYS <= rollups._today():  # (this world reaches today)
            parts.setdefault((NETWORK, week), []).append(cell)
    assert network.keys() == parts.keys()
    assert any(len(cells) > 1 for cells in parts.values())  # checkpoints merged
    for key, cells in parts.items():
        got = network[key]
        assert got.stops == sum(c.stops for c in cells)
        assert got.held_stops == sum(c.held_stops for c in cells)
        dwell = np.sort(np.frombuffer(b"".join(c.dwell for c in cells), FLOAT64))
        assert got.dwell == dwell.tobytes()
        assert got.same_as(rollups.merge_cells(cells))  # holds, fees, evidence too
        assert got.exporters == b""


def test_an_admins_weekly_trend_over_the_network_reads_them_and_nothing_else_does(
    reader: TestClient, factory: sessionmaker[Session], world: World
) -> None:
    """A network week made wrong shows in an admin's weekly trend over every checkpoint and
    nowhere else; a marked day in that week puts it right."""
    admin, advocate = world.admin.headers, world.advocate.headers
    questions: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "network": (admin, {}),
        "per checkpoint": (admin, {"by": "checkpoint"}),
        "advocate": (advocate, {}),
        "a province": (admin, {"province": "baghdad"}),
        "by month": (admin, {"interval": "month"}),
    }

    def answers() -> dict[str, list[dict[str, Any]]]:
        found = {}
        for name, (headers, params) in questions.items():
            asked = {"interval": "week", **params}
            found[name] = report(reader, "trends", headers, **asked)["items"]
        return found

    before = answers()
    week = max(network_weeks(factory))
    with factory() as session:
        session.execute(
            update(WeekNetworkCell)
            .where(WeekNetworkCell.arrival_day == week)
            .values(stops=WeekNetworkCell.stops + 1000)
        )
        session.commit()
    after = answers()
    start = rollups.date.fromordinal(rollups.EPOCH + week).isoformat()
    changed = [row for row in after["network"] if row["period_start"] == start]
    was = [row for row in before["network"] if row["period_start"] == start]
    assert [row["stops"] for row in changed] == [was[0]["stops"] + 1000]
    for name in questions.keys() - {"network"}:
        assert after[name] == before[name], name
    cp, day = a_day_in(factory, week)
    with factory() as session:
        session.add(RollupDirty(checkpoint_id=cp, arrival_day=day))
        session.commit()
    assert answers() == before


def test_a_checkpoint_with_a_target_of_its_own_keeps_the_trend_on_its_week_cells(
    reader: TestClient, factory: sessionmaker[Session], world: World
) -> None:
    """Each stop counts against its own checkpoint's target: the network rows cannot say
    which were within it, so the trend adds up the checkpoints' week cells."""
    with factory() as session:
        session.execute(update(WeekNetworkCell).values(stops=WeekNetworkCell.stops + 1000))
        cp = session.scalar(select(WeekCell.checkpoint_id).limit(1))
        session.execute(update(Checkpoint).where(Checkpoint.id == cp).values(target_minutes=45))
        session.commit()
    rows = weekly(reader, world.admin.headers)
    with factory() as session:
        weeks = rollups.stored(session, lambda table: true(), WeekCell, exporters=False)
    total = sum(cell.stops for cell in weeks.values())
    assert sum(row["stops"] for row in rows) == total  # no week counted 1,000 more
    assert all(row["target_minutes"] is None for row in rows)  # two targets in every row


def test_only_settled_weeks_have_rows_and_the_refreshes_write_the_missing_ones(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    weeks = network_weeks(factory)
    assert len(weeks) > rollups.POOLED_PER_REFRESH
    last = max(weeks)
    monkeypatch.setattr(rollups, "_today", lambda: last + 7 + rollups.SETTLED_DAYS - 1)
    rollups.rebuild(factory)
    assert network_weeks(factory) == weeks - {last}  # not settled yet
    assert rollups.verify(factory) == []

    monkeypatch.setattr(rollups, "_today", lambda: last + 7 + rollups.SETTLED_DAYS)
    with factory() as session:  # every row gone (as after the migration that made them)
        session.execute(delete(WeekNetworkCell))
        session.commit()
    first = min(weeks)
    cp, day = a_day_in(factory, first)  # its week is written with the day's cell
    written: list[set[int]] = []
    while len(network_weeks(factory)) < len(weeks):
        with factory() as session:  # a stop written somewhere: the refresh comes round
            session.add(RollupDirty(checkpoint_id=cp, arrival_day=day))
            session.commit()
        assert rollups.refresh(factory) >= 1
        written.append(network_weeks(factory))
    latest = sorted(weeks - {first}, reverse=True)
    assert written[0] == {first, *latest[: rollups.POOLED_PER_REFRESH]}  # the latest first
    assert len(written) == -(-len(latest) // rollups.POOLED_PER_REFRESH)
    assert rollups.verify(factory) == []


def test_verify_finds_a_wrong_network_week(factory: sessionmaker[Session]) -> None:
    week = min(network_weeks(factory))
    with factory() as session:
        session.execute(
            update(WeekNetworkCell)
            .where(WeekNetworkCell.arrival_day == week)
            .values(held_stops=WeekNetworkCell.held_stops + 1)
        )
        session.commit()
        count = session.scalar(select(func.count()).select_from(WeekNetworkCell))
    assert count
    assert rollups.verify(factory) == [
        f"week_network_cells: week starting day {week}: differs from its checkpoints' week cells"
    ]


def test_a_network_month_of_cargo_is_its_cargo_cells_merged(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        network = rollups.stored(session, lambda table: true(), MonthNetworkCargo)
        months = rollups.stored(session, lambda table: true(), MonthCellCargo, exporters=False)
    parts: dict[Any, list[rollups.CellFigures]] = {}
    for (_, month, chapters), cell in months.items():
        if rollups.MONTH.end(month) + rollups.SETTLED_DAYS <= rollups._today():
            parts.setdefault((NETWORK, month, chapters), []).append(cell)
    assert network.keys() == parts.keys()
    assert any("," in key[2] for key in parts)  # shipments of several chapters
    for key, cells in parts.items():
        assert network[key].same_as(rollups.merge_cells(cells)), key


def test_an_admins_commodity_report_over_the_network_reads_its_cargo_rows(
    reader: TestClient, factory: sessionmaker[Session], world: World
) -> None:
    """A network row of a month and chapter set made wrong shows in an admin's commodity
    report (and in its chapters, filtered by one of them) and nowhere else: not in an
    advocate's, not in one narrowed to a province, not once a day of its month is marked."""
    with factory() as session:
        month, chapters = session.execute(
            select(MonthNetworkCargo.arrival_day, MonthNetworkCargo.hs_chapters)
            .where(MonthNetworkCargo.hs_chapters != "")
            .limit(1)
        ).one()
    chapter = chapters.split(",")[0]
    questions: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "network": (world.admin.headers, {}),
        "a chapter": (world.admin.headers, {"hs_chapter": chapter}),
        "advocate": (world.advocate.headers, {}),
        "a province": (world.admin.headers, {"province": "baghdad"}),
    }

    def stops() -> dict[str, dict[str, int]]:
        found = {}
        for name, (headers, params) in questions.items():
            items = report(reader, "commodities", headers, **params)["items"]
            found[name] = {row["hs_chapter"]: row["stops"] for row in items}
        return found

    before = stops()
    with factory() as session:
        session.execute(
            update(MonthNetworkCargo)
            .where(
                MonthNetworkCargo.arrival_day == month, MonthNetworkCargo.hs_chapters == chapters
            )
            .values(stops=MonthNetworkCargo.stops + 1000)
        )
        session.commit()
    after = stops()
    for name in ("network", "a chapter"):
        assert after[name][chapter] == before[name][chapter] + 1000, name
    assert after["advocate"] == before["advocate"]
    assert after["a province"] == before["a province"]
    cp, day = a_day_in(factory, month, days=rollups.MONTH.end(month) - month)
    with factory() as session:
        session.add(RollupDirty(checkpoint_id=cp, arrival_day=day))
        session.commit()
    assert stops() == before


def test_a_rebuild_without_stops_empties_the_period_and_network_rows(client: TestClient) -> None:
    """Rows left from stops since deleted (by hand): a rebuild over no stops leaves none."""
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        for table in (WeekCell, WeekNetworkCell, MonthCellCargo, MonthNetworkCargo):
            cell = {"checkpoint_id": NETWORK, "arrival_day": 20_454}
            cell |= {"hs_chapters": "72"} if table in (MonthCellCargo, MonthNetworkCargo) else {}
            figures = rollups.CellFigures(stops=1)
            rollups.store(session, table, [], {tuple(cell.values()): figures})
        session.commit()
    assert rollups.rebuild(factory) == 0
    with factory() as session:
        for table in (WeekCell, WeekNetworkCell, MonthCellCargo, MonthNetworkCargo):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
