"""Every model, imported once so that Alembic and the mappers see the whole schema."""

from app.auth.models import ApiKey, DriverToken, RateLimitWindow, User
from app.cases.models import (
    Case,
    CaseCheckpoint,
    CaseCounter,
    CaseIncident,
    CaseStep,
    FocalPoint,
    Incident,
)
from app.checkpoints.models import Checkpoint
from app.evidence.models import Attachment, DeviceKey
from app.organizations.models import Organization
from app.policies.models import PolicyChange, PolicyChangeCheckpoint
from app.reports.models import DayCell, DayCellCargo, DayCellProcedure, RollupDirty
from app.shipments.models import CargoLine, RoutePoint, Shipment
from app.tracking.models import (
    Position,
    Stop,
    StopFee,
    StopHold,
    StopProcedure,
    TrackingEvent,
)
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Attachment",
    "CargoLine",
    "Case",
    "CaseCheckpoint",
    "CaseCounter",
    "CaseIncident",
    "CaseStep",
    "Checkpoint",
    "DayCell",
    "DayCellCargo",
    "DayCellProcedure",
    "DeviceKey",
    "DriverToken",
    "FocalPoint",
    "Incident",
    "Organization",
    "PolicyChange",
    "PolicyChangeCheckpoint",
    "Position",
    "RateLimitWindow",
    "RollupDirty",
    "RoutePoint",
    "Shipment",
    "Stop",
    "StopFee",
    "StopHold",
    "StopProcedure",
    "TrackingEvent",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
]
