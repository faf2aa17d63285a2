"""The names people read for case categories and statuses, in English, Arabic and Sorani
(the monthly bulletin prints them; next to their enums, like the other vocabularies)."""

from app.cases.models import CaseCategory, CaseStatus
from app.languages import Words

CATEGORY_NAMES: dict[CaseCategory, Words] = {
    CaseCategory.unreceipted_fee: Words("Fee without receipt", "رسوم بلا وصل", "باج بێ پسوولە"),
    CaseCategory.excessive_inspection: Words(
        "Excessive inspection", "تفتيش مفرط", "پشکنینی زیادەڕۆیانە"
    ),
    CaseCategory.missing_document_hold: Words(
        "Held for a missing document", "احتجاز بسبب وثيقة ناقصة", "ڕاگرتن لەبەر بەڵگەنامەی ناتەواو"
    ),
    CaseCategory.arbitrary_turn_back: Words(
        "Arbitrary turn-back", "إرجاع تعسفي", "گەڕاندنەوەی خۆسەرانە"
    ),
    CaseCategory.permit_demanded: Words("Permit demanded", "طلب تصريح", "داواکردنی مۆڵەت"),
    CaseCategory.queue_or_closure: Words("Queue or closure", "طابور أو إغلاق", "ڕیز یان داخستن"),
    CaseCategory.other: Words("Other", "أخرى", "تر"),
}

STATUS_NAMES: dict[CaseStatus, Words] = {
    CaseStatus.draft: Words("Draft", "مسودة", "ڕەشنووس"),
    CaseStatus.submitted: Words("Submitted", "مقدمة", "پێشکەشکراو"),
    CaseStatus.acknowledged: Words("Acknowledged", "مستلمة", "وەرگیراو"),
    CaseStatus.in_progress: Words("In progress", "قيد المعالجة", "لە جێبەجێکردندایە"),
    CaseStatus.resolved: Words("Resolved", "محلولة", "چارەسەرکراو"),
    CaseStatus.rejected: Words("Rejected", "مرفوضة", "ڕەتکراوە"),
    CaseStatus.withdrawn: Words("Withdrawn", "مسحوبة", "کشێنراوەتەوە"),
}
