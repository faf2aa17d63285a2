"""An admin's procedure rows added up by the database (rollups.procedure_groups_in_scope).

The rows of the procedure report are sums of many cells (8,000 at 1M stops): for an admin the
database adds up the rollups' rows per report row, their sums and their minutes concatenated.
Here those groups are compared with the cells they add up, read one by one as an advocate's
report reads them, whatever part of the question comes from month cells, day cells or the
stops (marked cells, partial days), with the cells read whole or by their index; a month row
made wrong shows in an admin's report until one of its days is marked. Then the two pieces
that make it cheap: the bytes aggregate (concat_bytes) and PostgreSQL's binary results.
"""

import gc
import math
import weakref
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import LargeBinary, func, literal, null, select, true, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from app.checkpoints.models import Checkpoint
from app.db import BINARY_RESULTS
from app.reports import rollups, value_index
from app.reports.filters import ReportFilters
from app.reports.models import (
    NETWORK,
    DayCellProcedure,
    MonthCellProcedure,
    MonthNetworkProcedure,
    RollupDirty,
)
from app.reports.sql import concat_bytes
from app.types import EPOCH
from tests.reports.builders import World, report
from tests.reports.conftest import client_on

FLOAT64 = np.dtype("<f8")

# Whole months (October) with whole days on either side; the same with partial edge days.
MONTHS = ReportFilters(
    from_=datetime(2026, 9, 20, tzinfo=UTC), to=datetime(2026, 11, 10, tzinfo=UTC)
)
PARTIAL = ReportFilters(
    from_=datetime(2026, 9, 20, 7, 30, tzinfo=UTC), to=datetime(2026, 11, 10, 16, tzinfo=UTC)
)
QUESTIONS = {"all": ReportFilters(), "months": MONTHS, "partial days": PARTIAL}


@pytest.fixture(scope="module")
def reader(world_url: str, world: World) -> Iterator[TestClient]:
    with client_on(world_url) as client:
        rollups.refresh_all(client.app.state.session_factory)  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def factory(reader: TestClient) -> Iterator[sessionmaker[Session]]:
    """The reader's sessions; the rollups rebuilt after the test (some make rows wrong)."""
    found: sessionmaker[Session] = reader.app.state.session_factory  # type: ignore[attr-defined]
    yield found
    rollups.rebuild(found)
    assert rollups.verify(found) == []


def cell_by_cell(session: Session, filters: ReportFilters, by_checkpoint: bool) -> dict[Any, Any]:
    """Each row's sums and minutes from its day cells read one by one (the advocate's path,
    every cell kept)."""
    found: dict[Any, Any] = {}
    for cell, part in rollups.procedure_cells_in_scope(session, filters).items():
        key = (cell[2], cell[0]) if by_checkpoint else (cell[2],)
        sums, values = found.setdefault(key, ([0, 0, 0.0, 0.0, (0,) * 5], []))
        for i, value in enumerate((part.first_runs, part.timed_runs)):
            sums[i] += value
        sums[2] += part.minutes
        sums[3] += part.untimed_minutes
        sums[4] = tuple(a + b for a, b in zip(sums[4], part.evidence.values(), strict=True))
        values.append(part.minute_values)
    return found


def groups_in_scope(
    session: Session, filters: ReportFilters, by_checkpoint: bool
) -> dict[Any, rollups.ProcedureGroup]:
    """Every procedure's groups, which come all at once or, past ONE_READ_MINUTES, one
    procedure at a time."""
    groups: dict[Any, rollups.ProcedureGroup] = {}
    parts = list(rollups.procedure_groups_in_scope(session, filters, by_checkpoint=by_checkpoint))
    for part in parts:
        if len(parts) > 1:
            assert len({key[0] for key in part}) == 1
        assert not groups.keys() & part.keys()
        groups |= part
    return groups


def assert_groups_are_their_cells(
    session: Session, filters: ReportFilters, by_checkpoint: bool
) -> None:
    groups = groups_in_scope(session, filters, by_checkpoint)
    want = cell_by_cell(session, filters, by_checkpoint)
    assert groups.keys() == want.keys()
    assert groups  # the question has rows to compare
    statistics = rollups.procedure_statistics(session, groups)
    for key, group in groups.items():
        (first, timed, minutes, untimed, evidence), values = want[key]
        assert (group.first_runs, group.timed_runs) == (first, timed), key
        assert group.evidence.values() == evidence, key
        assert math.isclose(group.minutes, minutes, rel_tol=1e-12, abs_tol=1e-9), key
        assert math.isclose(group.untimed_minutes, untimed, rel_tol=1e-12, abs_tol=1e-9), key
        every = np.frombuffer(b"".join(values), FLOAT64)
        p50, p90, tail = rollups.order_statistics(every)
        found = statistics[key]
        assert (found.p50, found.p90, found.tail_mean) == (p50, p90, tail), key
        if not group.indexed:  # read whole: the very values, in another order
            assert np.array_equal(np.sort(group.values().loose), np.sort(every)), key


@pytest.mark.parametrize("one_read", [True, False], ids=["one read", "a read per procedure"])
@pytest.mark.parametrize("by_checkpoint", [False, True], ids=["by procedure", "by checkpoint"])
@pytest.mark.parametrize("question", list(QUESTIONS))
def test_an_admins_rows_add_up_their_cells(
    factory: sessionmaker[Session],
    question: str,
    by_checkpoint: bool,
    one_read: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whole months read in one statement, or (past ONE_READ_MINUTES: at 10M stops) one
    procedure at a time, each one's minutes held only until its percentiles are taken."""
    monkeypatch.setattr(rollups, "ONE_READ_MINUTES", 10**12 if one_read else 0)
    with factory() as session:
        batches = list(
            rollups.procedure_groups_in_scope(
                session, QUESTIONS[question], by_checkpoint=by_checkpoint
            )
        )
        assert len(batches) == 1 if one_read else len(batches) > 1
        assert_groups_are_their_cells(session, QUESTIONS[question], by_checkpoint)


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_cells_read_by_their_index_add_up_as_well(
    factory: sessionmaker[Session], question: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell with a run read by its index (this world's cells are too small otherwise):
    the database adds up their sums only, their minutes are read by slices."""
    monkeypatch.setattr(value_index, "INDEXED_FROM", 1)
    with factory() as session:
        groups = groups_in_scope(session, QUESTIONS[question], by_checkpoint=True)
        assert any(group.indexed for group in groups.values())
        for by_checkpoint in (False, True):
            assert_groups_are_their_cells(session, QUESTIONS[question], by_checkpoint)


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_marked_cells_are_read_from_their_stops_and_left_out_of_the_sums(
    factory: sessionmaker[Session], question: str
) -> None:
    """A marked day inside a whole month (the month read by its days), one outside whole
    months, and a month row made wrong that only the marked month hides."""
    with factory() as session:
        october, november = (date(2026, m, 1).toordinal() - EPOCH for m in (10, 11))
        rows = session.execute(
            select(DayCellProcedure.checkpoint_id, DayCellProcedure.arrival_day).distinct()
        ).all()
        inside = next((cp, day) for cp, day in rows if rollups.month_start(day) == october)
        # Before 10 November: in each question, outside its whole months but in "all".
        outside = next((cp, day) for cp, day in rows if november <= day < november + 9)
        session.execute(
            update(MonthCellProcedure)
            .where(
                MonthCellProcedure.checkpoint_id == inside[0],
                MonthCellProcedure.arrival_day == october,
            )
            .values(first_runs=MonthCellProcedure.first_runs + 1000)
        )
        # A day row made wrong too: a marked cell is read from its stops, never from it.
        session.execute(
            update(DayCellProcedure)
            .where(
                DayCellProcedure.checkpoint_id == outside[0],
                DayCellProcedure.arrival_day == outside[1],
            )
            .values(first_runs=DayCellProcedure.first_runs + 1000)
        )
        session.add_all(
            [
                RollupDirty(checkpoint_id=inside[0], arrival_day=inside[1]),
                RollupDirty(checkpoint_id=outside[0], arrival_day=outside[1]),
            ]
        )
        session.commit()
    with factory() as session:
        for by_checkpoint in (False, True):
            assert_groups_are_their_cells(session, QUESTIONS[question], by_checkpoint)


@pytest.mark.parametrize(
    ("table", "by"),
    [(MonthNetworkProcedure, "overall"), (MonthCellProcedure, "checkpoint")],
    ids=["network rows", "month rows"],
)
def test_an_admins_report_reads_month_rows_and_an_advocates_day_rows(
    reader: TestClient, factory: sessionmaker[Session], world: World, table: Any, by: str
) -> None:
    """A month row made wrong: an admin's procedure report adds it up (the database sums the
    network's month rows, or per checkpoint its month rows), an advocate's does not (day
    cells); a marked day in that month puts the admin's right again."""

    def items(headers: dict[str, str]) -> list[dict[str, Any]]:
        return report(reader, "procedures", headers, by=by)["items"]  # type: ignore[no-any-return]

    before = {who: items(getattr(world, who).headers) for who in ("admin", "advocate")}
    with factory() as session:
        cp, month, procedure = session.execute(
            select(table.checkpoint_id, table.arrival_day, table.procedure).limit(1)
        ).one()
        session.execute(
            update(table)
            .where(
                table.checkpoint_id == cp,
                table.arrival_day == month,
                table.procedure == procedure,
            )
            .values(first_runs=table.first_runs + 1000)
        )
        day_cp = session.scalar(
            select(DayCellProcedure.checkpoint_id).where(
                DayCellProcedure.arrival_day >= month,
                DayCellProcedure.arrival_day < rollups.MONTH.end(month),
            )
        )
        session.commit()

    def stops_of(items: list[dict[str, Any]]) -> dict[tuple[str, str | None], int]:
        return {
            (row["procedure"], row.get("checkpoint_id") if cp != NETWORK else None): row[
                "stops_requiring"
            ]
            or 0
            for row in items
        }

    wrong = (procedure, None if cp == NETWORK else str(cp))
    admin = stops_of(items(world.admin.headers))
    assert admin == {**stops_of(before["admin"]), wrong: 1000 + stops_of(before["admin"])[wrong]}
    assert items(world.advocate.headers) == before["advocate"]
    with factory() as session:
        session.add(
            RollupDirty(checkpoint_id=day_cp if cp == NETWORK else cp, arrival_day=month + 3)
        )
        session.commit()
    assert items(world.admin.headers) == before["admin"]


def test_concat_bytes_joins_blobs_byte_for_byte(factory: sessionmaker[Session]) -> None:
    """Any bytes (zeros, invalid UTF-8, empty), NULLs skipped, NULL when there is nothing."""
    parts = [np.array([0.0, -1.5, math.pi]).tobytes(), b"\xff\xfe\x00\x80", b"", b"\x00"]
    values = union_all(
        *(select(literal(part, LargeBinary).label("v")) for part in parts),
        select(null().label("v")),
    ).subquery()
    with factory() as session:
        joined = session.scalar(select(concat_bytes(values.c.v)))
        nothing = session.scalar(select(concat_bytes(values.c.v)).where(values.c.v.is_(None)))
    assert isinstance(joined, bytes)
    assert len(joined) == sum(len(part) for part in parts)
    # In no particular order: each part is a piece of the whole, and the bytes add up.
    assert sorted(joined) == sorted(b"".join(parts))
    assert all(part in joined for part in parts)
    assert nothing is None


def test_binary_results_are_the_same_rows(factory: sessionmaker[Session]) -> None:
    """A statement marked BINARY_RESULTS: on PostgreSQL its rows come in binary format (bytea
    as bytes, not hex text), the same values as in text; SQLite ignores the mark."""
    table = DayCellProcedure
    stmt = select(
        table.checkpoint_id, table.arrival_day, table.procedure, table.minutes, table.minute_values
    ).order_by(table.checkpoint_id, table.arrival_day, table.procedure)
    with factory() as session:
        connection = session.connection()
        plain = connection.execute(stmt)
        want = [tuple(row) for row in plain.cursor.fetchall()]
        marked = connection.execute(stmt.execution_options(**{BINARY_RESULTS: True}))
        cursor: Any = marked.cursor
        got = [tuple(row) for row in cursor.fetchall()]
        if connection.dialect.name == "postgresql":
            assert cursor.pgresult.fformat(4) == 1  # binary
            assert plain.cursor.pgresult.fformat(4) == 0  # type: ignore[union-attr]
    assert want
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in got] == [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in want
    ]


@pytest.mark.parametrize("question", ["months", "partial days"])
def test_a_procedures_batch_is_freed_before_the_next_is_read(
    factory: sessionmaker[Session], question: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One procedure at a time: once the next batch is read, nothing the reading keeps
    refers to the last one's groups (their minutes), days outside whole months included."""
    monkeypatch.setattr(rollups, "ONE_READ_MINUTES", 0)
    with factory() as session:
        batches = rollups.procedure_groups_in_scope(
            session, QUESTIONS[question], by_checkpoint=True
        )
        held: list[weakref.ref[rollups.ProcedureGroup]] = []
        for batch in batches:
            gc.collect()
            assert [ref for ref in held if ref() is not None] == []
            held = [weakref.ref(group) for group in batch.values()]
            del batch
        assert held  # there were batches to free


def test_the_network_rows_are_every_checkpoints_month_rows_merged(
    factory: sessionmaker[Session],
) -> None:
    """Per procedure and month, one network row: its month rows' sums added and their
    minutes merged, sorted. A network row made wrong is found by verify; a refresh of a day
    of its month writes it anew."""
    with factory() as session:
        network = rollups.stored_procedures(
            session, lambda table: true(), table=MonthNetworkProcedure
        )
        months = rollups.stored_procedures(
            session, lambda table: true(), table=MonthCellProcedure, exporters=False
        )
    merged: dict[Any, list[rollups.ProcedureCell]] = defaultdict(list)
    for (_, month, procedure), cell in months.items():
        if rollups.MONTH.end(month) + rollups.SETTLED_DAYS <= rollups._today():
            merged[(NETWORK, month, procedure)].append(cell)
    assert network.keys() == merged.keys()
    assert any(len(parts) > 1 for parts in merged.values())  # checkpoints merged
    for key, parts in merged.items():
        got = network[key]
        assert (got.first_runs, got.timed_runs) == (
            sum(p.first_runs for p in parts),
            sum(p.timed_runs for p in parts),
        )
        assert got.evidence == rollups.EvidenceCounts.total(p.evidence for p in parts)
        assert math.isclose(got.minutes, sum(p.minutes for p in parts), rel_tol=1e-12)
        values = np.sort(np.frombuffer(b"".join(p.minute_values for p in parts), FLOAT64))
        assert got.minute_values == values.tobytes()
        assert got.exporters == b""  # an admin's rows: no thresholds to apply

    month, procedure = next(iter(network))[1:]
    wrong = (MonthNetworkProcedure.arrival_day == month) & (
        MonthNetworkProcedure.procedure == procedure
    )
    with factory() as session:
        session.execute(
            update(MonthNetworkProcedure)
            .where(wrong)
            .values(timed_runs=MonthNetworkProcedure.timed_runs + 1)
        )
        day_cp, day = session.execute(
            select(DayCellProcedure.checkpoint_id, DayCellProcedure.arrival_day).where(
                DayCellProcedure.arrival_day >= month,
                DayCellProcedure.arrival_day < rollups.MONTH.end(month),
            )
        ).first() or pytest.fail("no day row in the month")
        session.commit()
    problems = rollups.verify(factory)
    assert len(problems) == 1
    assert problems[0].startswith("month_network_procedures: month starting day")
    with factory() as session:
        session.add(RollupDirty(checkpoint_id=day_cp, arrival_day=day))
        session.commit()
    assert rollups.verify(factory) == []  # a month with a marked day is not read whole
    assert rollups.refresh_all(factory) >= 1
    assert rollups.verify(factory) == []
    with factory() as session:
        assert session.scalar(select(MonthNetworkProcedure.timed_runs).where(wrong)) == sum(
            p.timed_runs for p in merged[(NETWORK, month, procedure)]
        )


@pytest.mark.parametrize("narrowed", ["province", "checkpoint_id"])
def test_a_question_narrowed_to_some_checkpoints_never_reads_the_network_rows(
    factory: sessionmaker[Session], narrowed: str
) -> None:
    """Every network row made wrong: a question over the network shows it (the rows are
    read), one narrowed to a province or a checkpoint adds up its checkpoints' month rows."""
    with factory() as session:
        session.execute(
            update(MonthNetworkProcedure).values(first_runs=MonthNetworkProcedure.first_runs + 1)
        )
        checkpoint_id, province = session.execute(
            select(Checkpoint.id, Checkpoint.province).where(
                Checkpoint.id.in_(select(MonthCellProcedure.checkpoint_id))
            )
        ).first() or pytest.fail("no checkpoint with month rows")
        session.commit()
    value = {"province": province, "checkpoint_id": checkpoint_id}[narrowed]
    with factory() as session:
        with pytest.raises(AssertionError):  # over the network: the wrong rows are read
            assert_groups_are_their_cells(session, MONTHS, by_checkpoint=False)
        narrow = MONTHS.model_copy(update={narrowed: value})
        assert_groups_are_their_cells(session, narrow, by_checkpoint=False)


def test_only_months_that_have_ended_have_network_rows(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The world's last month as if it were the current one: its runs change at every stop,
    so it has no network row and its questions add up its checkpoints' month rows. The
    first refresh SETTLED_DAYS after its end writes its rows."""
    with factory() as session:
        last = session.scalar(select(func.max(MonthCellProcedure.arrival_day)))
        assert last is not None
    monkeypatch.setattr(rollups, "_today", lambda: last + 3)
    rollups.rebuild(factory)

    def network_months() -> set[int]:
        with factory() as session:
            return set(session.scalars(select(MonthNetworkProcedure.arrival_day).distinct()))

    assert network_months()  # the months before it
    assert last not in network_months()
    with factory() as session:
        assert_groups_are_their_cells(session, ReportFilters(), by_checkpoint=False)
    assert rollups.verify(factory) == []

    with factory() as session:
        cp, day = session.execute(
            select(DayCellProcedure.checkpoint_id, DayCellProcedure.arrival_day)
        ).first() or pytest.fail("no day rows")

    def refreshed_on(today: int) -> set[int]:
        """A stop written somewhere (its cell marked) and the refresh come round `today`."""
        monkeypatch.setattr(rollups, "_today", lambda: today)
        with factory() as session:
            session.add(RollupDirty(checkpoint_id=cp, arrival_day=day))
            session.commit()
        assert rollups.refresh_all(factory) >= 1
        return network_months()

    # A day after its end its last stops may be open yet; two days after, it has settled.
    assert last not in refreshed_on(rollups.MONTH.end(last) + 1)
    assert last in refreshed_on(rollups.MONTH.end(last) + rollups.SETTLED_DAYS)
    assert rollups.verify(factory) == []
    with factory() as session:
        assert_groups_are_their_cells(session, ReportFilters(), by_checkpoint=False)
