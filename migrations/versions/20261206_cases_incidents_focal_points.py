"""Complaint cases (with their yearly reference counter, checkpoints and dated steps), the
agencies' focal points, and exporters' incidents linked to cases (issue 16, parts 1-2).

Revision ID: 58e5dbed7fdb
Revises: c5d7e9f1a3b6
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "58e5dbed7fdb"
down_revision: str | Sequence[str] | None = "c5d7e9f1a3b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "case_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_counters")),
    )
    op.create_table(
        "focal_points",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "authority",
            sa.Enum(
                "customs",
                "police",
                "army",
                "security",
                "joint",
                "other",
                name="focal_authority",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "jurisdiction",
            sa.Enum(
                "federal",
                "krg",
                "joint",
                name="focal_jurisdiction",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focal_points")),
        sa.UniqueConstraint("authority", "jurisdiction", name="uq_focal_points_agency"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "unreceipted_fee",
                "excessive_inspection",
                "missing_document_hold",
                "arbitrary_turn_back",
                "permit_demanded",
                "queue_or_closure",
                "other",
                name="case_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "authority",
            sa.Enum(
                "customs",
                "police",
                "army",
                "security",
                "joint",
                "other",
                name="case_authority",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "jurisdiction",
            sa.Enum(
                "federal",
                "krg",
                "joint",
                name="case_jurisdiction",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "acknowledged",
                "in_progress",
                "resolved",
                "rejected",
                "withdrawn",
                name="case_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("focal_point_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_cases_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["focal_point_id"],
            ["focal_points.id"],
            name=op.f("fk_cases_focal_point_id_focal_points"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
        sa.UniqueConstraint("year", "number", name="uq_cases_year_number"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_created", ["created_at", "id"], unique=False)

    op.create_table(
        "case_checkpoints",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_checkpoints_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_case_checkpoints_checkpoint_id_checkpoints"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("case_id", "checkpoint_id", name=op.f("pk_case_checkpoints")),
    )
    op.create_table(
        "case_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "draft",
                "submitted",
                "acknowledged",
                "in_progress",
                "resolved",
                "rejected",
                "withdrawn",
                name="step_from",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "draft",
                "submitted",
                "acknowledged",
                "in_progress",
                "resolved",
                "rejected",
                "withdrawn",
                name="step_to",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.Uuid(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by"], ["users.id"], name=op.f("fk_case_steps_by_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_steps_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_steps")),
    )
    with op.batch_alter_table("case_steps", schema=None) as batch_op:
        batch_op.create_index("ix_case_steps_case", ["case_id", "at"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stop_id", sa.Uuid(), nullable=False),
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "unreceipted_fee",
                "excessive_inspection",
                "missing_document_hold",
                "arbitrary_turn_back",
                "permit_demanded",
                "queue_or_closure",
                "other",
                name="incident_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachment_id", sa.Uuid(), nullable=True),
        sa.Column("filed_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_incidents_attachment_id_attachments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_incidents_checkpoint_id_checkpoints"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_incidents_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_incidents_shipment_id_shipments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_incidents_organization", ["organization_id", "created_at"], unique=False
        )

    op.create_table(
        "case_incidents",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_incidents_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_case_incidents_incident_id_incidents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["linked_by"],
            ["users.id"],
            name=op.f("fk_case_incidents_linked_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("case_id", "incident_id", name=op.f("pk_case_incidents")),
    )
    with op.batch_alter_table("case_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_case_incidents_incident", ["incident_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("case_incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_case_incidents_incident")

    op.drop_table("case_incidents")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_organization")
        batch_op.drop_index("ix_incidents_created")

    op.drop_table("incidents")
    with op.batch_alter_table("case_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_case_steps_case")

    op.drop_table("case_steps")
    op.drop_table("case_checkpoints")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_created")

    op.drop_table("cases")
    op.drop_table("focal_points")
    op.drop_table("case_counters")
