"""The words of the tracking domain: event types, procedures, hold reasons, currencies."""

from enum import StrEnum


class EventType(StrEnum):
    departed = "departed"
    arrived = "arrived"
    procedure_started = "procedure_started"
    procedure_completed = "procedure_completed"
    fee_paid = "fee_paid"
    held = "held"
    released = "released"
    turned_back = "turned_back"
    delivered = "delivered"
    note = "note"


class Procedure(StrEnum):
    document_check = "document_check"
    physical_inspection = "physical_inspection"
    xray_scan = "xray_scan"
    permit_verification = "permit_verification"
    quality_testing = "quality_testing"
    fee_payment = "fee_payment"
    transshipment = "transshipment"
    escort_wait = "escort_wait"
    queue = "queue"
    other = "other"


class HoldReason(StrEnum):
    missing_document = "missing_document"
    permit_required = "permit_required"
    classification_dispute = "classification_dispute"
    product_banned = "product_banned"
    quality_test_pending = "quality_test_pending"
    fee_dispute = "fee_dispute"
    security = "security"
    road_closed = "road_closed"
    other = "other"


class StopOutcome(StrEnum):
    open = "open"
    released = "released"
    turned_back = "turned_back"


# ISO 4217 codes a driver on these roads meets: dinars and dollars above all, then the
# currencies of the neighbours whose trucks and traders share the roads.
class Currency(StrEnum):
    IQD = "IQD"
    USD = "USD"
    EUR = "EUR"
    TRY = "TRY"
    IRR = "IRR"
    SYP = "SYP"
    JOD = "JOD"
    SAR = "SAR"
    KWD = "KWD"
    AED = "AED"
