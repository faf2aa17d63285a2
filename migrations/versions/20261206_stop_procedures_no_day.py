"""Indexes for reads that must not grow with history: the procedure runs of stops with no
arrival day (read live by reports), and the shipments at a checkpoint now (live status).

Revision ID: 5d1c9e7a2f60
Revises: b3e3f706fa9a
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d1c9e7a2f60"
down_revision: str | Sequence[str] | None = "b3e3f706fa9a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_stop_procedures_no_day",
        "stop_procedures",
        ["checkpoint_id"],
        unique=False,
        sqlite_where=sa.text("arrival_day IS NULL"),
        postgresql_where=sa.text("arrival_day IS NULL"),
    )
    op.create_index(
        "ix_shipments_status_checkpoint",
        "shipments",
        ["status", "current_checkpoint_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_shipments_status_checkpoint", table_name="shipments")
    op.drop_index("ix_stop_procedures_no_day", table_name="stop_procedures")
