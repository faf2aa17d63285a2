"""The network's months: per procedure and UTC month, every checkpoint's month cell merged
into one row (checkpoint_id: the nil UUID), for an admin's procedure report over the whole
network (rollups.py, MONTH.networks). Filled here from the month cells of the months that have
ended; from now on rewritten with the month cells of their month, once it has ended.

Revision ID: b4d6f8a0c2e3
Revises: e7f9a1b3c5d6
Create Date: 2026-12-07
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "b4d6f8a0c2e3"
down_revision: str | Sequence[str] | None = "e7f9a1b3c5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NETWORK = uuid.UUID(int=0)
STRIDE = 64  # value_index.STRIDE when this migration was written
SUMMED = ("first_runs", "timed_runs", "minutes", "untimed_minutes")
EVIDENCE = (
    "confirmed_stops",
    "contradicted_stops",
    "anomalous_stops",
    "fee_events",
    "photographed_fees",
)


def index_of(packed: bytes) -> bytes:
    """value_index.index_of as of this revision (a migration keeps its own copy)."""
    values = np.frombuffer(packed, "<f8")
    before = np.concatenate(([0.0], np.cumsum(values)))
    at = np.arange(0, len(values), STRIDE)
    return np.concatenate((values[at], before[at], before[-1:])).astype("<f8").tobytes()


def upgrade() -> None:
    table = op.create_table(
        "month_network_procedures",
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("arrival_day", sa.Integer(), nullable=False),
        sa.Column("procedure", sa.String(length=32), nullable=False),
        sa.Column("first_runs", sa.Integer(), nullable=False),
        sa.Column("timed_runs", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("untimed_minutes", sa.Float(), nullable=False),
        sa.Column("exporters", sa.LargeBinary(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in EVIDENCE),
        # The values last: SQLite keeps a row's columns in order, and reaches a column after
        # a large value only through its overflow pages (~400 KB a row at 10M stops).
        sa.Column("minute_index", sa.LargeBinary(), nullable=False),
        sa.Column("minute_values", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "checkpoint_id",
            "arrival_day",
            "procedure",
            name=op.f("pk_month_network_procedures"),
        ),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE month_network_procedures ALTER COLUMN minute_values SET STORAGE EXTERNAL"
        )
    # The months that ended two days ago (rollups.SETTLED_DAYS): the current one has no
    # network rows (its runs change at every stop).
    settled = datetime.now(UTC).date() - timedelta(days=2)
    current = settled.replace(day=1).toordinal() - date(1970, 1, 1).toordinal()
    months = bind.execute(
        sa.text(
            "SELECT DISTINCT arrival_day FROM month_cell_procedures WHERE arrival_day < :current"
        ),
        {"current": current},
    )
    for (month,) in months.all():
        bind.execute(sa.insert(table), _merged(bind, month))


def _merged(bind: sa.Connection, month: int) -> list[dict[str, object]]:
    """The month's network rows: per procedure, its month cells' sums added and their
    minutes merged (rollups.merge_procedures as of this revision)."""
    columns = ", ".join(("procedure", *SUMMED, *EVIDENCE, "minute_values"))
    found = bind.execute(
        sa.text(f"SELECT {columns} FROM month_cell_procedures WHERE arrival_day = :month"),
        {"month": month},
    )
    parts: dict[str, list[sa.Row[tuple[object, ...]]]] = defaultdict(list)
    for row in found:
        parts[row[0]].append(row)
    rows = []
    for procedure, cells in parts.items():
        values = np.sort(np.frombuffer(b"".join(bytes(c[-1]) for c in cells), "<f8")).tobytes()
        sums = {name: sum(c[i] for c in cells) for i, name in enumerate((*SUMMED, *EVIDENCE), 1)}
        rows.append(
            {
                "checkpoint_id": NETWORK,
                "arrival_day": month,
                "procedure": procedure,
                **sums,
                "minute_values": values,
                "minute_index": index_of(values),
                "exporters": b"",
            }
        )
    return rows


def downgrade() -> None:
    op.drop_table("month_network_procedures")
