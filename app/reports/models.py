"""The reports' rollups: one row of figures per day cell (checkpoint × UTC day of arrival).

A cell's rows are a function of its stops only, recomputed whole by `rollups.refresh()`
whenever one of its stops (or their holds or fees) changed. Database triggers on those
tables log each change to `rollup_dirty` in the writing transaction itself, so no write can
be missed, whichever code path made it (the event writer, a bulk load, a repair by hand).
See rollups.py for how reports read them.
"""

import uuid

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class _Evidence:
    """What corroborates the stops of a cell (figures.Figures says what each count is)."""

    confirmed_stops: Mapped[int] = mapped_column(Integer, server_default="0")
    contradicted_stops: Mapped[int] = mapped_column(Integer, server_default="0")
    anomalous_stops: Mapped[int] = mapped_column(Integer, server_default="0")
    fee_events: Mapped[int] = mapped_column(Integer, server_default="0")
    photographed_fees: Mapped[int] = mapped_column(Integer, server_default="0")


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


class _CellFigures(_Evidence):
    """The figures of a cell's stops in one row: counts and sums; its dwell times, sorted,
    packed as little-endian float64 (8 bytes a stop: percentiles need every value); holds
    per reason and fees per currency as packed records; and its exporters, for the
    advocates' thresholds, as their 16-byte ids one after the other (rollups.py)."""

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    stops: Mapped[int] = mapped_column(Integer)
    completed_stops: Mapped[int] = mapped_column(Integer)
    timed_stops: Mapped[int] = mapped_column(Integer)
    total_dwell_minutes: Mapped[float] = mapped_column(Float)
    held_stops: Mapped[int] = mapped_column(Integer)
    turned_back_stops: Mapped[int] = mapped_column(Integer)
    dwell_values: Mapped[bytes] = mapped_column(LargeBinary)
    # A sample of dwell_values every value_index.STRIDE values, with the sums before them:
    # how a report finds the few slices of dwell_values its percentiles need (value_index.py).
    dwell_index: Mapped[bytes] = mapped_column(LargeBinary)
    holds: Mapped[bytes] = mapped_column(LargeBinary)  # rollups.HOLDS records
    fees: Mapped[bytes] = mapped_column(LargeBinary)  # rollups.FEES records
    exporters: Mapped[bytes] = mapped_column(LargeBinary)


class DayCell(_CellFigures, Base):
    """A day cell: checkpoint × UTC day of arrival."""

    __tablename__ = "day_cells"
    __table_args__ = (Index("ix_day_cells_by_day", "arrival_day"),)


class DayCellCargo(_CellFigures, Base):
    """A day cell cut by the set of HS chapters its stops' shipments carry ("25,72"; "" for
    none): the commodity report's groups, and the advocates' atoms when a question is."""

    __tablename__ = "day_cell_cargo"

    hs_chapters: Mapped[str] = mapped_column(String(300), primary_key=True)


class _ProcedureFigures(_Evidence):
    """A procedure's runs in a cell: the stops that required it (their first runs), the
    runs timed, their minutes (sum, and sorted as little-endian float64), the minutes spent
    at stops whose own time is unknown, and the exporters whose stops required it."""

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    arrival_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_runs: Mapped[int] = mapped_column(Integer)
    timed_runs: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)
    untimed_minutes: Mapped[float] = mapped_column(Float)
    minute_values: Mapped[bytes] = mapped_column(LargeBinary)
    minute_index: Mapped[bytes] = mapped_column(LargeBinary)  # as _CellFigures.dwell_index
    exporters: Mapped[bytes] = mapped_column(LargeBinary)


class DayCellProcedure(_ProcedureFigures, Base):
    """A procedure's runs in a day cell."""

    __tablename__ = "day_cell_procedures"


# Month cells: a checkpoint's day cells of one UTC calendar month merged into one row
# (arrival_day: the month's first day). They answer the questions that need no finer day
# over the whole months of their window — an admin's; an advocate's answer is a sum of
# the day cells privacy.py allows, one by one. Recomputed from the day cells whenever one of
# them is (rollups.refresh), so a month row is never older than its day rows.


class MonthCell(_CellFigures, Base):
    """A checkpoint × UTC month of arrival: its day cells merged."""

    __tablename__ = "month_cells"


class MonthCellCargo(_CellFigures, Base):
    """A month cell cut by the set of HS chapters carried (as DayCellCargo)."""

    __tablename__ = "month_cell_cargo"

    hs_chapters: Mapped[str] = mapped_column(String(300), primary_key=True)


class MonthCellProcedure(_ProcedureFigures, Base):
    """A procedure's runs in a month cell."""

    __tablename__ = "month_cell_procedures"


# The network's periods: a period's cells at every checkpoint merged into one row
# (checkpoint_id: NETWORK, the nil UUID; no exporters), so that an admin's question over the
# whole network reads one indexed row a period (a procedure's month: ~50,000 runs at 10M
# stops; a week: ~115,000 stops) where it read every checkpoint's values (~1,250 runs and
# ~2,900 stops each, too few for their index to pay). Written in the transaction that
# writes the period's cells, once the period has settled (rollups.pool_periods,
# rollups.pool_ended), so a period's network rows always match its checkpoints' rows.

NETWORK = uuid.UUID(int=0)


class MonthNetworkCargo(_CellFigures, Base):
    """A UTC month's stops at every checkpoint cut by the set of HS chapters carried
    (checkpoint_id is NETWORK): its month cargo cells merged, for an admin's commodity
    report over the whole network."""

    __tablename__ = "month_network_cargo"

    hs_chapters: Mapped[str] = mapped_column(String(300), primary_key=True)


class MonthNetworkProcedure(_ProcedureFigures, Base):
    """A procedure's runs in a UTC month at every checkpoint (checkpoint_id is NETWORK)."""

    __tablename__ = "month_network_procedures"


class WeekCell(_CellFigures, Base):
    """A checkpoint × UTC week of arrival (Monday to Sunday; arrival_day: the Monday): its
    day cells merged, as month cells are, for weekly trends (weeks cross months)."""

    __tablename__ = "week_cells"


class WeekNetworkCell(_CellFigures, Base):
    """A UTC week at every checkpoint (checkpoint_id is NETWORK, no exporters): its week
    cells merged, for an admin's weekly trend over the whole network."""

    __tablename__ = "week_network_cells"


class CorridorDirty(Base):
    """A corridor cell (origin × destination × UTC day of departure) whose row may be stale:
    appended by triggers on shipments, stops and stop_fees, removed by the refresh that
    recomputed it (corridor_cells.py)."""

    __tablename__ = "corridor_dirty"
    __table_args__ = (
        Index("ix_corridor_dirty_cell", "origin_province", "destination_province", "departure_day"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    origin_province: Mapped[str] = mapped_column(String(32))
    destination_province: Mapped[str] = mapped_column(String(32))
    departure_day: Mapped[int] = mapped_column(Integer)


class CorridorCell(_Evidence, Base):
    """The trips that left on one UTC day along one corridor: counts and kilometres, the
    transit times of the delivered ones (sorted, little-endian float64), their stops per
    checkpoint and known distance and their fees per currency and known distance (packed
    records, corridor_cells.STOPS and FEES), and their exporters (16-byte ids).

    On PostgreSQL its packed values stay in the row uncompressed up to a page's worth
    (migration 20261207_corridor_cells_inline: `toast_tuple_target`, STORAGE EXTERNAL): the
    admin's report adds up every cell of its window, and past 2 KB a row's values came back
    through pglz and the TOAST index."""

    __tablename__ = "corridor_cells"
    __table_args__ = (Index("ix_corridor_cells_by_day", "departure_day"),)

    origin_province: Mapped[str] = mapped_column(String(32), primary_key=True)
    destination_province: Mapped[str] = mapped_column(String(32), primary_key=True)
    departure_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    trips: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    with_distance: Mapped[int] = mapped_column(Integer)
    km: Mapped[float] = mapped_column(Float)
    transit: Mapped[bytes] = mapped_column(LargeBinary)
    stops: Mapped[bytes] = mapped_column(LargeBinary)
    fees: Mapped[bytes] = mapped_column(LargeBinary)
    exporters: Mapped[bytes] = mapped_column(LargeBinary)
    # The CAREC CPMM figures' trips ("timed": delivered, over a known distance): how many,
    # their kilometres, their transit minutes, their stops' dwell minutes, and the fees paid
    # on them per currency (corridor_cells.TIMED_FEES records, cents).
    timed_trips: Mapped[int] = mapped_column(Integer, server_default="0")
    timed_km: Mapped[float] = mapped_column(Float, server_default="0")
    timed_transit_minutes: Mapped[float] = mapped_column(Float, server_default="0")
    timed_checkpoint_minutes: Mapped[float] = mapped_column(Float, server_default="0")
    timed_fees: Mapped[bytes] = mapped_column(LargeBinary)
