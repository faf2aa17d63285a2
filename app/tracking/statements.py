"""The event writer's hot statements through the DB-API, each value converted once.

SQLAlchemy's Core statements cost the writer more than the database did: compiling (or
looking up) the statement, then each parameter of each row through its type's bind
processor and its parameter dict (bench/RESULTS.md, session 6). Here a plan is made once
per table and column list: the statement text in the driver's parameter style, and for
each column the conversion SQLAlchemy would have applied (the column type's own bind
processor, or an equivalent several times cheaper for UUIDs, datetimes and enums: a test
compares what is stored both ways, on both databases). A batch's rows are then converted
column by column and handed to the driver in the session's transaction: sqlite3's
executemany through `Connection.exec_driver_sql`; on PostgreSQL a binary COPY for the
inserts (`_copy`) and psycopg's executemany for the update. Errors arrive as SQLAlchemy's.

The same idea as app/demo/bulk.py's, which makes millions of rows for a text COPY; the demo
sits above tracking and its conversions make COPY's text, so each keeps its own.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum as PyEnum
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Column, Connection, Enum, Table, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from app.db import _WRITTEN, UTCDateTime

Converter = Callable[[Any], Any]
Getter = Callable[[Any], tuple[Any, ...]]


def insert(session: Session, table: Table, rows: Sequence[Any]) -> None:
    """INSERT `rows` into `table`: mappings by column key, or objects with the columns as
    attributes (all of one kind, with the same keys as the first). On PostgreSQL as a
    binary COPY (see _copy)."""
    if rows:
        connection = _writing(session)
        plan = _plan(connection.dialect, "insert", table, _keys(rows[0]), None)
        if connection.dialect.name == "postgresql":
            _copy(connection, table, plan, rows)
        else:
            connection.exec_driver_sql(plan.sql, plan.parameters(rows))


def update(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: str | tuple[str, ...]
) -> None:
    """UPDATE each row's columns (but the `key` columns) in the table's rows whose `key`
    columns equal the row's values of them; one statement executed for every row."""
    if rows:
        connection = _writing(session)
        keys = (key,) if isinstance(key, str) else key
        columns = tuple(k for k in rows[0] if k not in keys)
        plan = _plan(connection.dialect, "update", table, columns, keys)
        connection.exec_driver_sql(plan.sql, plan.parameters(rows))


def delete(session: Session, table: Table, column: str, values: Iterable[Any]) -> None:
    """DELETE the table's rows whose `column` is one of `values`."""
    values = list(values)
    if values:
        _where_in(_writing(session), "DELETE", table, column, values)


def select_in(
    session: Session, table: Table, column: str, columns: Sequence[str], values: Iterable[Any]
) -> dict[Any, tuple[Any, ...]]:
    """`columns` of the table's rows whose `column` is one of `values`, by that value (as
    given). The columns are read as the driver returns them: use plain numbers and text."""
    values = list(values)
    if not values:
        return {}
    dialect = session.get_bind().dialect
    convert = converter(table.c[column], dialect) or _same
    given = {convert(value): value for value in values}
    name = dialect.identifier_preparer.quote
    wanted = ", ".join(name(table.c[c].name) for c in (column, *columns))
    found = _where_in(session.connection(), f"SELECT {wanted}", table, column, values)
    return {given[key]: tuple(rest) for key, *rest in found}


def _where_in(
    connection: Connection, verb: str, table: Table, column: str, values: list[Any]
) -> list[Any]:
    """`verb` FROM the table WHERE `column` is one of `values`; the rows it returns."""
    dialect = connection.dialect
    convert = converter(table.c[column], dialect) or _same
    name = dialect.identifier_preparer.quote
    where = f"{verb} FROM {name(table.name)} WHERE {name(table.c[column].name)}"
    if dialect.name == "postgresql":  # one array parameter: one statement text for any count
        result = connection.exec_driver_sql(f"{where} = ANY(%s)", ([convert(v) for v in values],))
        return list(result) if result.returns_rows else []
    rows: list[Any] = []
    for start in range(0, len(values), _SQLITE_CHUNK):
        chunk = [convert(v) for v in values[start : start + _SQLITE_CHUNK]]
        marks = ", ".join("?" * len(chunk))
        result = connection.exec_driver_sql(f"{where} IN ({marks})", tuple(chunk))
        rows += result if result.returns_rows else []
    return rows


_SQLITE_CHUNK = 500  # parameters per statement, well under any SQLite build's limit


def _copy(connection: Connection, table: Table, plan: "_Plan", rows: Sequence[Any]) -> None:
    """The rows through `COPY … FROM STDIN (FORMAT BINARY)`, as the demo load writes its
    rows: psycopg's executemany spends some 35 µs of this process's CPU per row of a stop
    (binding and sending each row's statement), a binary COPY about 9 (bench/RESULTS.md,
    session 6). Triggers, foreign keys and column defaults apply as to an INSERT. The
    values are the same objects the INSERT would bind, each column written as the type the
    table has; an error arrives as SQLAlchemy's, as from exec_driver_sql."""
    raw: Any = connection.connection.driver_connection
    if plan.copy_types is None:
        # The columns' type oids, as the database has them (read once per plan).
        found: dict[str, int] = dict(
            connection.exec_driver_sql(
                "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped",
                (table.name,),
            ).all()
        )
        plan.copy_types = [int(found[name]) for name in plan.names]
    statement = plan.copy_sql
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(plan.copy_types)
            for row in plan.parameters(rows):
                copy.write_row(row)
    except connection.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            statement,
            None,
            error,
            connection.dialect.loaded_dbapi.Error,
            dialect=connection.dialect,
        ) from error


def _writing(session: Session) -> Connection:
    """The session's connection, its transaction marked as written to, as an ORM statement
    marks it (app/db.py's write_transaction refuses a session with unseen writes)."""
    connection = session.connection()
    session.info[_WRITTEN] = True
    return connection


def _keys(row: Any) -> tuple[str, ...]:
    if isinstance(row, dict):
        return tuple(row)
    return tuple(row.__slots__)  # a slotted dataclass (models.NewEvent)


class _Plan:
    """One statement's text and how its rows become the driver's parameters.

    As SQLAlchemy does, a column the rows leave out gets its Python-side default in an
    INSERT (`default=`) and its `onupdate=` in an UPDATE (shipments.updated_at), made for
    each row; a column with neither is left to the database.
    """

    def __init__(
        self,
        dialect: Dialect,
        verb: str,
        table: Table,
        keys: tuple[str, ...],
        key: tuple[str, ...] | None,
    ) -> None:
        name = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        given = [table.c[k] for k in keys]
        filled = [
            (column, _made(column, column.default if verb == "insert" else column.onupdate))
            for column in table.columns
            if column.key not in keys and column.key not in (key or ())
        ]
        self.filled = [(column, make) for column, make in filled if make is not None]
        columns = given + [column for column, _ in self.filled]
        self.names = [c.name for c in columns]
        self.copy_types: list[int] | None = None  # PostgreSQL's type oids, once known
        self.copy_sql = ""
        if verb == "insert":
            names = ", ".join(name(c.name) for c in columns)
            marks = ", ".join([mark] * len(columns))
            self.sql = f"INSERT INTO {name(table.name)} ({names}) VALUES ({marks})"
            self.copy_sql = f"COPY {name(table.name)} ({names}) FROM STDIN (FORMAT BINARY)"
            fetched = list(keys)
        else:
            assert key is not None
            assignments = ", ".join(f"{name(c.name)} = {mark}" for c in columns)
            where = " AND ".join(f"{name(table.c[k].name)} = {mark}" for k in key)
            self.sql = f"UPDATE {name(table.name)} SET {assignments} WHERE {where}"
            columns += [table.c[k] for k in key]
            fetched = [*keys, *key]
        self.given = len(keys)  # the filled-in columns come after the rows' own
        self.conversions = [
            (i, convert)
            for i, convert in enumerate(converter(c, dialect) for c in columns)
            if convert is not None
        ]
        self._item: Getter = _getter(itemgetter, fetched)
        self._attribute: Getter = _getter(attrgetter, fetched)

    def parameters(self, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        values = self._item if isinstance(rows[0], dict) else self._attribute
        if not self.conversions and not self.filled:
            return list(map(values, rows))
        # Column by column: one map() of a converter over the column's values.
        columns = list(zip(*map(values, rows), strict=True))
        columns[self.given : self.given] = [tuple(make() for _ in rows) for _, make in self.filled]
        for i, convert in self.conversions:
            columns[i] = tuple(map(convert, columns[i]))
        return list(zip(*columns, strict=True))


def _made(column: Column[Any], default: Any) -> Callable[[], Any] | None:
    """How a value of `default` (a column's default or onupdate) is made, as SQLAlchemy makes
    it for a statement that leaves the column out; None if there is no Python-side one."""
    if default is None:
        return None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        # SQLAlchemy wraps a function of no arguments as one of the execution context.
        function = default.arg
        return lambda: function(None)
    raise ValueError(f"{column.table.name}.{column.name}: a default this cannot make")


def _getter(make: Callable[..., Any], keys: list[str]) -> Getter:
    get = make(*keys)
    if len(keys) == 1:  # itemgetter/attrgetter of one key give the value, not a 1-tuple
        return lambda row: (get(row),)
    getter: Getter = get
    return getter


_PLANS: dict[tuple[str, str, str, tuple[str, ...], tuple[str, ...] | None], _Plan] = {}


def _plan(
    dialect: Dialect, verb: str, table: Table, keys: tuple[str, ...], key: tuple[str, ...] | None
) -> _Plan:
    cache_key = (dialect.name, verb, table.name, keys, key)
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = _PLANS[cache_key] = _Plan(dialect, verb, table, keys, key)
    return plan


def converter(column: Column[Any], dialect: Dialect) -> Converter | None:
    """What SQLAlchemy does to a value of this column before the driver binds it (None:
    nothing). UUIDs, datetimes and enums, most of the values, get a direct equivalent of
    SQLAlchemy's processing; everything else goes through the column type's own bind
    processor."""
    column_type = column.type
    if isinstance(column_type, NullType) and column.foreign_keys:
        # A foreign key column declared without a type takes its target's (resolved late).
        column_type = next(iter(column.foreign_keys)).column.type
    sqlite = dialect.name == "sqlite"
    if isinstance(column_type, Uuid) and column_type.as_uuid:
        native = dialect.supports_native_uuid and column_type.native_uuid
        return None if native else _hex
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _aware_utc
    processor: Converter | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(column_type, Enum) and column_type.enum_class is not None and processor:
        return _enum_lookup(column_type.enum_class, processor)
    return processor


def _enum_lookup(enum_class: type[PyEnum], processor: Converter) -> Converter:
    """The processor's answers for every member (and its value) looked up, not recomputed;
    anything else goes to the processor, which refuses what the column does not take."""
    known: dict[Any, Any] = {None: None}
    for member in enum_class:
        known[member] = known[member.value] = processor(member)

    def convert(value: Any) -> Any:
        try:
            return known[value]
        except KeyError:
            return processor(value)

    return convert


def _same(value: Any) -> Any:
    return value


def _hex(value: Any) -> str | None:
    return None if value is None else str(value.hex)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not accepted; attach a time zone")
    return value.astimezone(UTC)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite text for a datetime ("%04d-%02d-%02d %02d:%02d:%02d.%06d" of the
    naive UTC time), made by one C call."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = _utc(value)
    return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


def _aware_utc(value: datetime | None) -> datetime | None:
    """What UTCDateTime binds on PostgreSQL: the same instant, in UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    return _utc(value)
