"""Times as the API contract states them: RFC 3339 text with an offset, nothing else.

Pydantic's lax mode also reads a number (`0.5`, `"1700000000"`) as Unix seconds; the schema
says `date-time`, and a client that sends a number has made a mistake we should report.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _text_only(value: object) -> object:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("a time is RFC 3339 text with an offset, e.g. 2026-12-01T05:00:00+03:00")
    return value


def _fits_in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+00:05 is a valid RFC 3339 time that Python cannot move to UTC.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once in UTC") from None
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_fits_in_utc)]
