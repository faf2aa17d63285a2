"""Policy changes: a dated, sourced fact about one or more checkpoints ("single inspection
agreed at Kirkuk south from 1 December"), which the trends draw as a marker and the effect
report measures (effects.py, service.py)."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class PolicyChange(Base):
    __tablename__ = "policy_changes"
    __table_args__ = (
        # The trends' markers: the changes whose effective time falls in a window.
        Index("ix_policy_changes_effective_at", "effective_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(2000))
    # Who recorded it (an admin or an advocate): kept, not shown.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyChangeCheckpoint(Base):
    """The checkpoints a change applies to."""

    __tablename__ = "policy_change_checkpoints"
    __table_args__ = (Index("ix_policy_change_checkpoints_checkpoint", "checkpoint_id"),)

    policy_change_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("policy_changes.id", ondelete="CASCADE"), primary_key=True
    )
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT"), primary_key=True
    )
