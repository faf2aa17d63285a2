"""Report filters, and who may see which stops: the base every report query starts from."""

import re
import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, select

from app import privacy
from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.errors import InvalidInput
from app.geography import Province
from app.rfc3339 import Rfc3339
from app.shipments.models import CargoLine, Shipment
from app.tracking.models import Stop


class ReportFilters(BaseModel):
    """Filters shared by every report. Times select stops by their arrival."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Rfc3339 | None = Field(default=None, alias="from")
    to: Rfc3339 | None = None
    province: Province | None = Field(default=None, description="The checkpoint's province.")
    checkpoint_id: uuid.UUID | None = None
    hs_chapter: str | None = Field(default=None, description="Two digits, e.g. 04, 25, 72.")
    destination_province: Province | None = None
    evidence: Literal["all", "confirmed"] = Field(
        default="all", description="`confirmed`: GPS-confirmed stops only."
    )

    @property
    def confirmed_only(self) -> bool:
        return self.evidence == "confirmed"

    @field_validator("hs_chapter")
    @classmethod
    def _two_digits(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{2}", value):
            raise ValueError("an HS chapter is two digits, with its leading zero (04, not 4)")
        return value

    def described(self) -> dict[str, str]:
        """The filters in force, as the export's filter sheet shows them."""
        data = self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in data.items()}


def report_filters(
    from_: Annotated[
        Rfc3339 | None, Query(alias="from", description="Arrived at or after.")
    ] = None,
    to: Annotated[Rfc3339 | None, Query(description="Arrived before.")] = None,
    province: Annotated[Province | None, Query(description="The checkpoint's province.")] = None,
    checkpoint_id: uuid.UUID | None = None,
    hs_chapter: Annotated[
        str | None, Query(pattern=r"^[0-9]{2}$", description="Two digits: 04, 25, 72 …")
    ] = None,
    destination_province: Province | None = None,
    evidence: Annotated[
        Literal["all", "confirmed"],
        Query(
            description="`confirmed`: every figure over the stops whose position at the taps "
            "(or the tracker's) put the truck inside the checkpoint's fence."
        ),
    ] = "all",
) -> ReportFilters:
    return ReportFilters(
        from_=from_,
        to=to,
        province=province,
        checkpoint_id=checkpoint_id,
        hs_chapter=hs_chapter,
        destination_province=destination_province,
        evidence=evidence,
    )


def scoped_stops(principal: Principal, filters: ReportFilters, *columns: Any) -> Select[Any]:
    return scoped_rows(principal, filters, Stop, *columns)


def scoped_rows(
    principal: Principal, filters: ReportFilters, table: Any, *columns: Any
) -> Select[Any]:
    """SELECT columns FROM the stops (or their holds, procedures or fees: `table`) that this
    principal may count (privacy.readable), narrowed by the filters. An advocate's rows are
    then counted through protected cells (privacy.StopCells)."""
    stmt = privacy.readable(principal, select(*columns).select_from(table), table.organization_id)
    return narrow(stmt, filters, table)


def whole_days(principal: Principal, filters: ReportFilters) -> None:
    """Advocates' windows are whole UTC days: their answers are sums of day cells."""
    if not privacy.is_protected(principal):
        return
    for name, value in (("from", filters.from_), ("to", filters.to)):
        if value is not None and value.astimezone(UTC).time() != time(0):
            day = value.astimezone(UTC).date().isoformat()
            raise InvalidInput(
                f"`{name}` must be a whole UTC day for advocates' reports, e.g. "
                f"{day}T00:00:00Z: answers are built from whole days of stops.",
                errors=[{"loc": ["query", name], "msg": "not midnight UTC", "type": "value_error"}],
            )


def narrow(stmt: Select[Any], filters: ReportFilters, table: Any = Stop) -> Select[Any]:
    if filters.from_ is not None:
        stmt = stmt.where(table.arrived_at >= filters.from_)
    if filters.to is not None:
        stmt = stmt.where(table.arrived_at < filters.to)
    if filters.checkpoint_id is not None:
        stmt = stmt.where(table.checkpoint_id == filters.checkpoint_id)
    if filters.province is not None:
        in_province = select(Checkpoint.id).where(Checkpoint.province == filters.province)
        stmt = stmt.where(table.checkpoint_id.in_(in_province))
    if filters.hs_chapter is not None:
        carrying = select(CargoLine.shipment_id).where(CargoLine.hs_chapter == filters.hs_chapter)
        stmt = stmt.where(table.shipment_id.in_(carrying))
    if filters.destination_province is not None:
        bound = select(Shipment.id).where(
            Shipment.destination_province == filters.destination_province
        )
        stmt = stmt.where(table.shipment_id.in_(bound))
    if filters.confirmed_only:
        stmt = stmt.where(confirmed_stop(table))
    return stmt


def confirmed_stop(table: Any) -> Any:
    """The rows (stops, or their holds, fees or procedures) of GPS-confirmed stops."""
    if table is Stop:
        return Stop.position_evidence == "confirmed"
    return table.stop_id.in_(select(Stop.id).where(Stop.position_evidence == "confirmed"))
