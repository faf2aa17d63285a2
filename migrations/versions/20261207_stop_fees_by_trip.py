"""stop_fees indexed by trip. The corridor cells of a few trips (a refresh of marked cells,
a report's live parts: the edge days of a window, the cells marked since the last refresh)
and an advocate's corridors filtered by a chapter, checkpoint or province join the fees to
their trips by `shipment_id`, which no index of stop_fees led with: every such join read
every fee. The admin's corridor report with one cell marked took 3.3-3.9 s on SQLite at 1M
stops (~80-110 ms with the index) and 0.9 s on PostgreSQL at 10M (~0.3 s).

Revision ID: f9b1d3e5a7c8
Revises: e8a0c2d4f6b7
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f9b1d3e5a7c8"
down_revision: str | Sequence[str] | None = "e8a0c2d4f6b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_stop_fees_shipment", "stop_fees", ["shipment_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stop_fees_shipment", table_name="stop_fees")
