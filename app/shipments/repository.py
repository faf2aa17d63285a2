"""What a principal may see, written once; every shipment query starts here."""

from sqlalchemy import Select, select

from app.auth.principal import Principal
from app.errors import Forbidden
from app.shipments.models import Shipment


def visible_shipments(principal: Principal) -> Select[Shipment]:
    stmt = select(Shipment)
    if principal.is_admin:
        return stmt
    if principal.is_exporter:
        return stmt.where(Shipment.organization_id == principal.organization_id)
    if principal.kind == "driver":
        return stmt.where(Shipment.id == principal.shipment_id)
    raise Forbidden("Shipments are visible to their exporter and to admins only.")
