"""The reports' rollups: one row of figures per day cell (checkpoint × UTC day of arrival).

A cell's rows are a function of its stops only, recomputed whole by `rollups.refresh()`
whenever one of its stops (or their holds or fees) changed. Database triggers on those
tables log each change to `rollup_dirty` in the writing transaction itself, so no write can
be missed, whichever code path made it (the event writer, a bulk load, a repair by hand).
See rollups.py for how reports read them.
"""

import uuid
from decimal import Decimal

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class RollupDirty(Base):
    """A day cell whose rows may be stale: appended by triggers, removed by the refresh that
    recomputed the cell (by id, so a mark committed during a refresh is kept for the next)."""

    __tablename__ = "rollup_dirty"
    __table_args__ = (Index("ix_rollup_dirty_cell", "checkpoint_id", "arrival_day"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    arrival_day: Mapped[int] = mapped_column(Integer)


class DayCell(Base):
    """The counts and sums of a cell's stops, and its dwell times, sorted, packed as
    little-endian float64 (about 8 bytes a stop: percentiles need every value)."""

    __tablename__ = "day_cells"
    __table_args__ = (Index("ix_day_cells_by_day", "arrival_day"),)

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    stops: Mapped[int] = mapped_column(Integer)
    completed_stops: Mapped[int] = mapped_column(Integer)
    timed_stops: Mapped[int] = mapped_column(Integer)
    total_dwell_minutes: Mapped[float] = mapped_column(Float)
    held_stops: Mapped[int] = mapped_column(Integer)
    turned_back_stops: Mapped[int] = mapped_column(Integer)
    dwell_values: Mapped[bytes] = mapped_column(LargeBinary)


class DayCellHold(Base):
    """Holds per reason in a cell."""

    __tablename__ = "day_cell_holds"

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    holds: Mapped[int] = mapped_column(Integer)


class DayCellFee(Base):
    """Fees per currency in a cell: the total and the part paid without a receipt."""

    __tablename__ = "day_cell_fees"

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    total: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    unreceipted: Mapped[Decimal] = mapped_column(Numeric(20, 2))


class DayCellExporter(Base):
    """Stops per exporter in a cell: the advocates' thresholds (privacy.Tally) need whose."""

    __tablename__ = "day_cell_exporters"

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    stops: Mapped[int] = mapped_column(Integer)
    completed_stops: Mapped[int] = mapped_column(Integer)
