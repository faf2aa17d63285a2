"""The names people read for the checkpoint registry's kinds, authorities and jurisdictions,
in English, Arabic and Sorani: the dashboard compares agencies by them."""

from app.checkpoints.models import Authority, CheckpointKind, Jurisdiction
from app.languages import Words

KIND_NAMES: dict[CheckpointKind, Words] = {
    CheckpointKind.province_entry: Words("Province entrance", "مدخل محافظة", "دەروازەی پارێزگا"),
    CheckpointKind.internal: Words("Internal checkpoint", "سيطرة داخلية", "بازگەی ناوخۆیی"),
    CheckpointKind.customs: Words("Customs post", "مركز كمركي", "بنکەی گومرگ"),
    CheckpointKind.border_crossing: Words("Border crossing", "منفذ حدودي", "خاڵی سنووری"),
}

AUTHORITY_NAMES: dict[Authority, Words] = {
    Authority.customs: Words("Customs", "الكمارك", "گومرگ"),
    Authority.police: Words("Police", "الشرطة", "پۆلیس"),
    Authority.army: Words("Army", "الجيش", "سوپا"),
    Authority.security: Words("Security services", "الأجهزة الأمنية", "دەزگا ئەمنییەکان"),
    Authority.joint: Words("Joint force", "قوة مشتركة", "هێزی هاوبەش"),
    Authority.other: Words("Other", "أخرى", "تر"),
}

JURISDICTION_NAMES: dict[Jurisdiction, Words] = {
    Jurisdiction.federal: Words("Federal government", "الحكومة الاتحادية", "حکومەتی فیدراڵ"),
    Jurisdiction.krg: Words(
        "Kurdistan Regional Government", "حكومة إقليم كوردستان", "حکومەتی هەرێمی کوردستان"
    ),
    Jurisdiction.joint: Words("Joint", "مشتركة", "هاوبەش"),
}
