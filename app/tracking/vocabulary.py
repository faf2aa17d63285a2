"""The words of the tracking domain: event types, procedures, hold reasons, currencies, and
the names people read for them in English, Arabic and Sorani."""

from enum import StrEnum

from app.languages import Words


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


# The names people read (the driver's page, the dashboard), in English, Arabic and Sorani.
EVENT_TYPE_NAMES: dict[EventType, Words] = {
    EventType.departed: Words("Departed", "انطلاق", "بەڕێکەوتن"),
    EventType.arrived: Words("Arrived", "وصول", "گەیشتن"),
    EventType.procedure_started: Words("Procedure started", "بدء إجراء", "دەستپێکردنی ڕێکار"),
    EventType.procedure_completed: Words("Procedure finished", "انتهاء إجراء", "تەواوبوونی ڕێکار"),
    EventType.fee_paid: Words("Fee paid", "دفع رسم", "باج درا"),
    EventType.held: Words("Held", "احتجاز", "ڕاگرتن"),
    EventType.released: Words("Released", "إطلاق سراح", "ئازادکردن"),
    EventType.turned_back: Words("Turned back", "إرجاع", "گەڕاندنەوە"),
    EventType.delivered: Words("Delivered", "تسليم", "گەیاندن"),
    EventType.note: Words("Note", "ملاحظة", "تێبینی"),
}

PROCEDURE_NAMES: dict[Procedure, Words] = {
    Procedure.document_check: Words("Document check", "تدقيق المستندات", "پشکنینی بەڵگەنامە"),
    Procedure.physical_inspection: Words("Physical inspection", "تفتيش الحمولة", "پشکنینی بار"),
    Procedure.xray_scan: Words("X-ray scan", "فحص بالأشعة", "پشکنین بە تیشک"),
    Procedure.permit_verification: Words("Permit check", "التحقق من الإجازة", "پشکنینی مۆڵەت"),
    Procedure.quality_testing: Words("Quality test", "فحص الجودة", "تاقیکردنەوەی جۆرایەتی"),
    Procedure.fee_payment: Words("Paying a fee", "دفع الرسوم", "پارەدانی باج"),
    Procedure.transshipment: Words(
        "Reloading to another truck",
        "نقل الحمولة إلى شاحنة أخرى",
        "گواستنەوەی بار بۆ بارهەڵگرێکی تر",
    ),
    Procedure.escort_wait: Words("Waiting for an escort", "انتظار المرافقة", "چاوەڕوانی پاسەوان"),
    Procedure.queue: Words("Queue", "طابور", "ڕیز"),
    Procedure.other: Words("Other", "أخرى", "تر"),
}

HOLD_REASON_NAMES: dict[HoldReason, Words] = {
    HoldReason.missing_document: Words("Missing document", "مستند ناقص", "بەڵگەنامەیەک کەمە"),
    HoldReason.permit_required: Words("Permit required", "مطلوب إجازة", "مۆڵەت پێویستە"),
    HoldReason.classification_dispute: Words(
        "Dispute over the goods' class", "خلاف على تصنيف البضاعة", "ناکۆکی لەسەر پۆلێنی کاڵا"
    ),
    HoldReason.product_banned: Words("Goods banned", "بضاعة ممنوعة", "کاڵا قەدەغەیە"),
    HoldReason.quality_test_pending: Words(
        "Waiting for a quality test", "بانتظار فحص الجودة", "چاوەڕێی تاقیکردنەوەی جۆرایەتی"
    ),
    HoldReason.fee_dispute: Words("Dispute over a fee", "خلاف على رسم", "ناکۆکی لەسەر باج"),
    HoldReason.security: Words("Security", "سبب أمني", "هۆکاری ئاسایش"),
    HoldReason.road_closed: Words("Road closed", "الطريق مغلق", "ڕێگا داخراوە"),
    HoldReason.other: Words("Other", "أخرى", "تر"),
}
