"""A worker's reports take turns (reports/slots.py), and a large read streams every row
(db.streamed_rows): the two things that bound a worker's memory under the dashboard."""

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app import db
from app.reports.slots import report_slot

NUMBERS = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) "
    "SELECT i, i * 2 FROM n ORDER BY i"
)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 5000])
def test_a_streamed_read_returns_every_row_once_in_order(
    engine: Engine, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,500 rows, read a chunk at a time: on PostgreSQL SQLAlchemy pre-fetches the first
    rows of a server-side cursor, which a read of the DB-API cursor beside it would lose."""
    monkeypatch.setattr(db, "STREAMED_CHUNK", chunk)
    with Session(engine) as session:
        with db.streamed_rows(session, NUMBERS) as streamed:
            rows = [tuple(row) for row in streamed]
        assert open_cursors(session) == 0
    assert rows == [(i, i * 2) for i in range(1, 2501)]


def open_cursors(session: Session) -> int:
    """The server-side cursors open in the session's transaction (none on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    return int(session.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one())


def test_a_read_left_half_way_closes_its_cursor_in_its_own_transaction(engine: Engine) -> None:
    """A report that fails mid-read (its exception kept, as a traceback keeps it): the cursor
    is closed as the block ends, while the session still holds the connection, not later on
    a connection the pool may have given to another request."""
    with Session(engine) as session:
        kept: list[BaseException] = []
        try:
            with db.streamed_rows(session, NUMBERS) as streamed:
                for row in streamed:
                    if row[0] == 1500:
                        raise ValueError("a report failed")
        except ValueError as failed:
            kept.append(failed)
        assert kept
        assert open_cursors(session) == 0
        assert session.execute(text("SELECT 2")).scalar() == 2


def _inside_at_once(concurrency: int, threads: int = 4) -> int:
    """The most threads inside a report slot at the same moment."""
    inside, most, lock = 0, 0, threading.Lock()

    def report() -> None:
        nonlocal inside, most
        with report_slot(concurrency):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    workers = [threading.Thread(target=report) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    return most


@pytest.mark.parametrize(("concurrency", "most"), [(1, 1), (2, 2), (0, 4)])
def test_reports_take_turns_up_to_the_concurrency(concurrency: int, most: int) -> None:
    assert _inside_at_once(concurrency) == most


def test_a_thread_holding_a_slot_keeps_it_for_a_nested_report() -> None:
    done = threading.Event()

    def nested() -> None:
        with report_slot(1), report_slot(1):
            done.set()

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert done.is_set()
    assert _inside_at_once(1, threads=2) == 1  # and released the place when done
