"""Policy changes (issue 16 part 3).

A dated, sourced change (title, effective time, description, source link) and the
checkpoints it applies to: the trends draw it, the effect report measures it. Self-contained:
two new tables, nothing else touched.

Revision ID: 8bc1ed9907e4
Revises: 36057c43be63
Create Date: 2026-12-06 12:50:37.286401

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "8bc1ed9907e4"
down_revision: str | Sequence[str] | None = "36057c43be63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_policy_changes_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_changes")),
    )
    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.create_index("ix_policy_changes_effective_at", ["effective_at"], unique=False)

    op.create_table(
        "policy_change_checkpoints",
        sa.Column("policy_change_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_policy_change_checkpoints_checkpoint_id_checkpoints"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_change_id"],
            ["policy_changes.id"],
            name=op.f("fk_policy_change_checkpoints_policy_change_id_policy_changes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "policy_change_id", "checkpoint_id", name=op.f("pk_policy_change_checkpoints")
        ),
    )
    with op.batch_alter_table("policy_change_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_policy_change_checkpoints_checkpoint", ["checkpoint_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("policy_change_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_change_checkpoints_checkpoint")

    op.drop_table("policy_change_checkpoints")
    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_changes_effective_at")

    op.drop_table("policy_changes")
