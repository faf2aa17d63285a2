"""Engine, sessions and the column types every feature shares.

SQLite is made safe for concurrent requests here: WAL (readers never block the writer),
a busy timeout (writers queue instead of failing), foreign keys on, synchronous=FULL
(an acknowledged commit survives power loss), and write transactions that start with
BEGIN IMMEDIATE. A deferred transaction that reads and then writes cannot wait for the
lock — SQLite answers SQLITE_BUSY at once whatever the timeout — so services call
`begin_write()` before their first statement.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
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
        return create_engine(
            url, pool_pre_ping=True, pool_size=settings.db_pool_size, max_overflow=20
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


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The timeout first: asking for WAL needs a lock too, and without it a connection
        # opened while another writes in a rollback journal (the demo load) fails at once.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
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


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def begin_write(session: Session) -> None:
    """Start the session's transaction as a write transaction.

    Ends any read-only transaction the request already had open (e.g. the one the
    authentication lookup used), so that the next one starts with BEGIN IMMEDIATE on
    SQLite. On PostgreSQL it only starts a transaction; row locks are taken where needed.
    """
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.close()
