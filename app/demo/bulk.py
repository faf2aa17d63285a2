"""Millions of demo rows into the database without SQLAlchemy's per-row work.

The process that makes the rows (a worker) also turns every value into what the database
driver would have been given by SQLAlchemy for that column; the writing process hands whole
chunks to the driver: sqlite3's `executemany`, PostgreSQL's `COPY ... FROM STDIN`. Columns come
from the table metadata, so a column added to a table flows through: its value from the row,
else its scalar default, else the database's default.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Connection, Enum, Numeric, Table, Uuid
from sqlalchemy.engine import Dialect, make_url

from app.db import UTCDateTime

Converter = Callable[[Any], Any]


@cache
def dialect_named(name: str, driver: str) -> Dialect:
    """A fresh dialect like the engine's, for a worker process (dialects do not pickle)."""
    dialect: Dialect = make_url(f"{name}+{driver}://").get_dialect()()
    return dialect


@dataclass
class TableRows:
    """One table's rows for one chunk: the column names and a tuple per row, values already
    in the driver's representation (mostly str, int, float and None: cheap to pickle)."""

    table: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Formatter:
    """Turns a chunk's rows (dicts by column key) into TableRows for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}

    def converter(self, table: Table, key: str) -> Converter:
        """The conversion of one column's values (for rows made already converted)."""
        return converter(table.c[key], self.dialect) or _same

    def table_rows(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> TableRows:
        keys = frozenset(rows[0])
        plan = self._plans.get((table.name, keys))
        if plan is None:
            plan = self._plans[table.name, keys] = _Plan(table, keys, self.dialect)
        values, defaults, conversions = plan.values, plan.defaults, plan.conversions
        if not conversions:
            made = (
                [(*values(row), *defaults) for row in rows] if defaults else list(map(values, rows))
            )
            return TableRows(table.name, plan.columns, made)
        out = []
        for row in rows:
            value = [*values(row), *defaults]
            for i, convert in conversions:
                value[i] = convert(value[i])
            out.append(tuple(value))
        return TableRows(table.name, plan.columns, out)


def _same(value: Any) -> Any:
    return value


class _Plan:
    """A table's columns for rows with these keys, and how each value is converted."""

    def __init__(self, table: Table, keys: frozenset[str], dialect: Dialect) -> None:
        present = [column for column in table.columns if column.key in keys]
        unknown = keys - {column.key for column in present}
        if unknown:
            raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
        # Columns the rows leave out but SQLAlchemy would have filled in: scalar defaults.
        # Any other column left out gets the database's default (or NULL), as without this.
        defaulted = [
            column
            for column in table.columns
            if column.key not in keys and column.default is not None and column.default.is_scalar
        ]
        self.columns = [column.name for column in present + defaulted]
        self.values = _getter([column.key for column in present])
        self.defaults = [
            (converter(column, dialect) or _same)(getattr(column.default, "arg", None))
            for column in defaulted
        ]
        converters = [converter(column, dialect) for column in present]
        self.conversions = [(i, convert) for i, convert in enumerate(converters) if convert]


def _getter(keys: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(keys) == 1:  # itemgetter of one key gives the value, not a 1-tuple
        return lambda row: (row[keys[0]],)
    return itemgetter(*keys)


def converter(column: Column[Any], dialect: Dialect) -> Converter | None:
    """What SQLAlchemy would do to a value of this column before the driver binds it.

    UUIDs and datetimes, most of the values, get a direct equivalent of SQLAlchemy's
    processing that is several times cheaper (a test compares what is stored with what
    SQLAlchemy stores); everything else goes through the column type's own bind processor.
    On PostgreSQL the values become text for COPY (UUIDs as hex, datetimes in ISO 8601,
    decimals as str). Enum values are checked against the enum's list, as the column's CHECK
    constraint does (which a SQLite bulk load skips, see app/demo/generator.py).
    """
    sqlite = dialect.name == "sqlite"
    if isinstance(column.type, Enum):
        return _checked(column.type.dialect_impl(dialect).bind_processor(dialect), column)
    if isinstance(column.type, Uuid) and column.type.as_uuid:
        return _hex
    if isinstance(column.type, UTCDateTime):
        return _sqlite_datetime if sqlite else _iso_datetime
    if not sqlite and isinstance(column.type, Numeric) and column.type.asdecimal:
        return _text_or_none
    processor: Converter | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _checked(processor: Converter | None, column: Column[Any]) -> Converter:
    assert isinstance(column.type, Enum)
    allowed = frozenset(column.type.enums)
    convert = processor or _same

    def check(value: Any) -> Any:
        stored = convert(value)
        if stored is not None and stored not in allowed:
            raise LookupError(f"{stored!r} is not one of {column.table.name}.{column.name}'s")
        return stored

    return check


def uuid_text(value: int) -> str:
    """What the converter of a UUID column makes of UUID(int=value), on both databases."""
    return f"{value:032x}"


def _hex(value: UUID | None) -> str | None:
    return None if value is None else value.hex


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not accepted; attach a time zone")
    return value.astimezone(UTC)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite storage of a datetime ("%04d-%02d-%02d %02d:%02d:%02d.%06d" of the
    naive UTC time), made by one C call instead of seven attribute reads and a % format."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = _utc(value)
    return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


def _iso_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo is UTC else _utc(value)).isoformat()


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def write(connection: Connection, chunk: Iterable[TableRows]) -> None:
    """Insert the chunk's rows, table by table in the given order, in the connection's
    transaction, through the DB-API connection underneath it."""
    raw: Any = connection.connection.driver_connection
    quote = connection.dialect.identifier_preparer.quote
    for rows in chunk:
        if not rows.rows:
            continue
        columns = ", ".join(quote(name) for name in rows.columns)
        if connection.dialect.name == "sqlite":
            marks = ", ".join("?" * len(rows.columns))
            insert = f"INSERT INTO {quote(rows.table)} ({columns}) VALUES ({marks})"
            raw.executemany(insert, rows.rows)
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {quote(rows.table)} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows.rows:
                    copy.write_row(row)
