"""SQL constructs the reports share, written for each database."""

from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class concat_bytes(FunctionElement[bytes]):
    """The aggregate of byte strings joined, in no particular order (NULLs skipped; NULL if
    none): PostgreSQL's string_agg, SQLite's group_concat (which joins blobs byte for byte,
    as text in a UTF-8 database: cast back to a blob)."""

    type = LargeBinary()
    inherit_cache = True
    name = "concat_bytes"


@compiles(concat_bytes, "postgresql")
def _concat_bytes_postgresql(element: concat_bytes, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ''::bytea)"


@compiles(concat_bytes, "sqlite")
def _concat_bytes_sqlite(element: concat_bytes, compiler: Any, **kw: Any) -> str:
    return f"CAST(group_concat({compiler.process(element.clauses, **kw)}, '') AS BLOB)"
