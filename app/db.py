"""Engine, sessions and the column types every feature shares.

SQLite is made safe for concurrent requests here: WAL (readers never block the writer),
a busy timeout (writers queue instead of failing), foreign keys on, synchronous=FULL
(an acknowledged commit survives power loss), and write transactions that start with
BEGIN IMMEDIATE. A deferred transaction that reads and then writes cannot wait for the
lock — SQLite answers SQLITE_BUSY at once whatever the timeout — so services write inside
`with write_transaction(session):`, which opens the transaction that way.

Reports read through sessions of their own (`make_session_factory(..., read_only=True)`),
on the primary or, when REPORTS_DATABASE_URL is set, on a read replica
(`create_reports_engine`). Such a session refuses every write the ORM sees, and the replica's
connections are read-only in the database itself (PostgreSQL: `default_transaction_read_only`;
SQLite: the file opened with `mode=ro`), so a stray write fails loudly instead of landing
where no backup or migration looks.
"""

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Enum, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_OPTION = "clearance_write"
READ_ONLY = "clearance_read_only"  # session.info: a reports' session, which never writes
# libpq options for the reports' connections: every transaction read-only unless it says
# otherwise (nothing in the app does).
PG_READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
# Execution option: the statement's rows in PostgreSQL's binary format (see _binary_results).
BINARY_RESULTS = "clearance_binary_results"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC on both databases.

    SQLite has no time zone type; without this a value would come back naive and
    comparisons with aware values would fail or, worse, silently shift.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; attach a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(cls: type[StrEnum], name: str, length: int = 32) -> Enum:
    """A StrEnum stored as text with a CHECK constraint: the same on SQLite and PostgreSQL, and
    a new value is a constraint change rather than an ALTER TYPE."""
    return Enum(cls, native_enum=False, create_constraint=True, length=length, name=name)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_db_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return _with_binary_results(
            create_engine(url, pool_pre_ping=True, pool_size=settings.db_pool_size, max_overflow=20)
        )
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=20,
        connect_args={"check_same_thread": False},
    )
    _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
    return engine


def create_reports_engine(settings: Settings) -> Engine | None:
    """The reports' engine over REPORTS_DATABASE_URL (a read replica of the primary), with
    read-only connections; None when it is not set, and the reports read the primary.

    PostgreSQL: every transaction starts read-only (`default_transaction_read_only`, added to
    any `options` the URL carries), so an INSERT fails with "cannot execute INSERT in a
    read-only transaction" even on a server that would accept it. SQLite (a copy kept by
    LiteFS, say): the file is opened with `mode=ro` and `query_only`, and a
    missing file is an error at the first report rather than a new empty database.
    """
    if not settings.reports_database_url:
        return None
    url = make_url(settings.reports_database_url)
    if url.get_backend_name() != "sqlite":
        given = url.query.get("options")
        options = f"{given} {PG_READ_ONLY_OPTIONS}" if isinstance(given, str) else None
        return _with_binary_results(
            create_engine(
                url,
                pool_pre_ping=True,
                pool_size=settings.db_pool_size,
                max_overflow=20,
                connect_args={"options": options or PG_READ_ONLY_OPTIONS},
            )
        )
    engine = create_engine(
        _read_only_sqlite_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=20,
        connect_args={"check_same_thread": False},
    )
    _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, read_only=True)
    return engine


def _with_binary_results(engine: Engine) -> Engine:
    """A PostgreSQL engine that runs statements marked BINARY_RESULTS in binary format."""
    event.listen(engine, "do_execute", _binary_results)
    event.listen(
        engine,
        "do_execute_no_params",
        lambda cursor, statement, context: _binary_results(cursor, statement, None, context),
    )
    return engine


def _binary_results(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Asks for a marked statement's rows in binary format: a bytea value travels as its
    bytes rather than as hex text, half the bytes with nothing to decode (a report reads
    megabytes of sorted values); the other columns come as the same Python values. A
    statement marked STREAM_INTO runs on a server-side cursor instead (`streamed_rows`).
    True: executed here (SQLAlchemy's do_execute hook), False: SQLAlchemy executes it."""
    if context is None:
        return False
    into = context.execution_options.get(STREAM_INTO)
    if into is not None:
        # SQLAlchemy compiled the statement and converted its parameters: run them on a
        # named cursor of the same connection and transaction, which the caller reads raw.
        # The unused cursor SQLAlchemy made has no rows, so its result is an empty one.
        named = cursor.connection.cursor(name=f"clearance_stream_{next(_stream_names)}")
        named.execute(statement, parameters, binary=True)
        into.append(named)
        return True
    if not context.execution_options.get(BINARY_RESULTS):
        return False
    cursor.execute(statement, parameters, binary=True)
    return True


STREAMED_CHUNK = 1_000  # rows a server-side cursor sends at a time
# Execution option: a list that receives the statement's server-side cursor (PostgreSQL).
STREAM_INTO = "clearance_stream_into"
_stream_names = itertools.count()


@contextmanager
def streamed_rows(
    session: Session, stmt: Any, chunk: int | None = None
) -> Iterator[Iterator[Sequence[Any]]]:
    """The rows of a large read (cells with their packed values), as plain tuples, in binary
    on PostgreSQL and a chunk at a time: psycopg otherwise receives the whole result into
    libpq's memory and holds it beside the Python values made from it, twice a report's
    megabytes at its peak. On PostgreSQL the chunks come from a server-side cursor, read raw
    (SQLAlchemy's own streaming wraps every row, a third more time for a report of 40,000
    cells, and pre-fetches rows a raw read beside it would lose); on SQLite sqlite3 steps
    through the rows anyway. `chunk`: rows at a time, fewer for rows of megabytes each.

    A context manager, so that the cursor is closed when the block ends, however it ends,
    while the session still holds its connection: a generator left half read (kept alive by
    an exception's traceback) would close it later, maybe on a connection the pool has
    given to another request, whose transaction the failed CLOSE would abort."""
    size = chunk or STREAMED_CHUNK
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        result = connection.execute(stmt)
        try:
            yield _chunked(result.cursor, size)
        finally:
            result.close()
        return
    into: list[Any] = []
    connection.execute(stmt.execution_options(**{STREAM_INTO: into})).close()
    (named,) = into
    try:
        yield _chunked(named, size)
    finally:
        named.close()


def _chunked(cursor: Any, size: int) -> Iterator[Sequence[Any]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def _read_only_sqlite_url(url: URL) -> URL:
    """The same file as a SQLite URI opened `mode=ro`. A URL that is a URI already (`uri=true`)
    is the operator's and is kept; an in-memory database stays one (`query_only` still holds)."""
    if url.query.get("uri") or not url.database or url.database == ":memory:":
        return url
    return url.set(
        database=Path(url.database).absolute().as_uri(),
        query={**url.query, "mode": "ro", "uri": "true"},
    )


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The timeout first: asking for WAL needs a lock too, and without it a connection
        # opened while another writes in a rollback journal (the demo load) fails at once.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if read_only:
            # The journal mode is the writer's to choose; a reader only refuses to write.
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN"
        conn.exec_driver_sql(mode)


def database_answers(engine: Engine) -> bool:
    """Readiness: can a connection be made and a query run right now?"""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return False
    return True


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions over `engine`; `read_only` ones (the reports') refuse to write (ReadOnlySession).

    A reports' session on PostgreSQL reads one snapshot (REPEATABLE READ) for all its
    statements, as SQLite's read transaction does: a report reads a cell's dwell index and
    then slices of its values (reports/value_index.py), which must be the same row's even
    if a refresh replaces it in between. A read-only transaction there never fails for it."""
    info = {READ_ONLY: True} if read_only else None
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)
    if read_only and engine.dialect.name == "postgresql":
        event.listen(factory, "after_begin", _one_snapshot)
    return factory


def _one_snapshot(_session: Session, _transaction: Any, connection: Connection) -> None:
    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


class PendingChanges(RuntimeError):
    """A write transaction was asked for on a session that already holds changes: they would
    be committed (or lost) with it unseen. A programming error, hence a 500."""


class ReadOnlySession(RuntimeError):
    """A write through a reports' session, which may be a replica's: a programming error
    (hence a 500), refused on the primary as well so that tests without a replica catch it."""


_WRITTEN = "clearance_written"  # session.info: changes flushed or executed in its transaction
_WRITING = "clearance_writing"  # session.info: inside write_transaction


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """The one way to write: the block runs in a write transaction that commits when the
    block ends and rolls back when it raises (the commit's own failure included).

    Refuses a session with pending changes (added, changed or deleted objects not yet
    flushed, or rows already written in its open transaction) and a nested call, instead of
    committing them silently. A read-only transaction the session has open (the
    authentication lookup's, say) is ended first, so that the write one starts with BEGIN
    IMMEDIATE on SQLite: the database's single write lock is taken at the start, and
    whatever was read before it is read again under the lock (the rollback expires it).
    On PostgreSQL it only starts a transaction; row locks are taken where needed.

    Do the expensive work that needs no lock (password hashing, credential checks, parsing)
    before the block: on SQLite every other writer waits while it runs.
    """
    _refuse_if_read_only(session)
    if session.info.get(_WRITING):
        raise PendingChanges("write_transaction() inside write_transaction()")
    if has_pending_changes(session):
        raise PendingChanges(
            "the session has changes outside write_transaction(); write inside the block"
        )
    if session.in_transaction():
        session.rollback()  # read-only: nothing is lost, and BEGIN IMMEDIATE needs a new one
    session.connection(execution_options={WRITE_OPTION: True})
    session.info[_WRITING] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_WRITING, None)


def has_pending_changes(session: Session) -> bool:
    """Objects added, changed or deleted and not yet flushed, or rows written (by a flush or
    an INSERT/UPDATE/DELETE through the session) in its open transaction. Raw SQL text is
    not seen: services do not write that way."""
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WRITTEN))


def _refuse_if_read_only(session: Session) -> None:
    if session.info.get(READ_ONLY):
        raise ReadOnlySession("a reports' session never writes: write through the primary's")


@event.listens_for(Session, "before_flush")
def _flushing(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _refuse_if_read_only(session)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    session.info[_WRITTEN] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _refuse_if_read_only(state.session)
        state.session.info[_WRITTEN] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost one: committed or rolled back
        session.info.pop(_WRITTEN, None)
