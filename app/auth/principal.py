import uuid
from dataclasses import dataclass
from typing import Literal

from app.auth.models import Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (by password token or API key) or a shipment's driver."""

    kind: Literal["user", "api_key", "driver"]
    role: Role | None
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    shipment_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_exporter(self) -> bool:
        return self.role == Role.exporter
