"""The session every read of aggregates goes through: the reports and their CSV/XLSX exports,
the live status, and the public feed when it comes (it takes `ReportsSessionDep`, nothing else).

It reads the replica when REPORTS_DATABASE_URL is set, else the primary, and refuses to write
either way (`app/db.py`). Who is asking is still looked up on the primary (auth's
`SessionDep`): a revoked key or a user just made must count at once, whatever the replica's lag.

The live status reads the replica too, like the public board: it is the most polled
read (every phone planning a trip), its medians move once per completed hour for all but
admins, and each row says how fresh it is (`last_event_at`), so a lag of a second or two shows
instead of hiding. Operators watch that lag (README, "Scaling")."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session


def get_reports_session(request: Request) -> Iterator[Session]:
    session = request.app.state.reports_session_factory()
    try:
        yield session
    finally:
        session.close()


ReportsSessionDep = Annotated[Session, Depends(get_reports_session)]
