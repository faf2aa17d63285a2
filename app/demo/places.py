"""Synthetic places for the demo: checkpoint positions and names in three languages.

Clearly marked as synthetic: positions are placed near province capitals and along the main
roads, not at real checkpoints.
"""

from app.geography import Province

KRG = (Province.erbil, Province.sulaymaniyah, Province.duhok, Province.halabja)

NAMES: dict[Province, tuple[str, str, str]] = {  # English, Arabic, Kurdish (Sorani)
    Province.erbil: ("Erbil", "أربيل", "هەولێر"),
    Province.sulaymaniyah: ("Sulaymaniyah", "السليمانية", "سلێمانی"),
    Province.duhok: ("Duhok", "دهوك", "دهۆک"),
    Province.halabja: ("Halabja", "حلبجة", "هەڵەبجە"),
    Province.kirkuk: ("Kirkuk", "كركوك", "کەرکووک"),
    Province.nineveh: ("Nineveh", "نينوى", "نەینەوا"),
    Province.salahaddin: ("Salahaddin", "صلاح الدين", "سەلاحەدین"),
    Province.diyala: ("Diyala", "ديالى", "دیالە"),
    Province.baghdad: ("Baghdad", "بغداد", "بەغدا"),
    Province.anbar: ("Anbar", "الأنبار", "ئەنبار"),
    Province.babil: ("Babil", "بابل", "بابل"),
    Province.karbala: ("Karbala", "كربلاء", "کەربەلا"),
    Province.najaf: ("Najaf", "النجف", "نەجەف"),
    Province.wasit: ("Wasit", "واسط", "واست"),
    Province.qadisiyyah: ("Qadisiyyah", "القادسية", "قادسیە"),
    Province.maysan: ("Maysan", "ميسان", "مەیسان"),
    Province.dhi_qar: ("Dhi Qar", "ذي قار", "زیقار"),
    Province.muthanna: ("Muthanna", "المثنى", "موسەننا"),
    Province.basra: ("Basra", "البصرة", "بەسرە"),
}

# The provinces a truck from the Kurdistan Region crosses to reach each destination, in order.
PATHS: dict[Province, list[Province]] = {
    Province.kirkuk: [Province.kirkuk],
    Province.nineveh: [Province.nineveh],
    Province.salahaddin: [Province.kirkuk, Province.salahaddin],
    Province.diyala: [Province.diyala],
    Province.baghdad: [Province.kirkuk, Province.salahaddin, Province.baghdad],
    Province.anbar: [Province.kirkuk, Province.salahaddin, Province.baghdad, Province.anbar],
    Province.babil: [Province.kirkuk, Province.salahaddin, Province.baghdad, Province.babil],
    Province.karbala: [Province.kirkuk, Province.salahaddin, Province.baghdad, Province.karbala],
    Province.najaf: [
        Province.kirkuk,
        Province.salahaddin,
        Province.baghdad,
        Province.babil,
        Province.najaf,
    ],
    Province.qadisiyyah: [
        Province.kirkuk,
        Province.salahaddin,
        Province.baghdad,
        Province.babil,
        Province.qadisiyyah,
    ],
    Province.wasit: [Province.diyala, Province.wasit],
    Province.maysan: [Province.diyala, Province.wasit, Province.maysan],
    Province.dhi_qar: [Province.diyala, Province.wasit, Province.dhi_qar],
    Province.muthanna: [
        Province.kirkuk,
        Province.salahaddin,
        Province.baghdad,
        Province.babil,
        Province.qadisiyyah,
        Province.muthanna,
    ],
    Province.basra: [Province.diyala, Province.wasit, Province.maysan, Province.basra],
}

# Where the goods go, roughly how often (Baghdad and the north take most).
DESTINATION_WEIGHTS: dict[Province, int] = {
    Province.baghdad: 30,
    Province.kirkuk: 12,
    Province.nineveh: 12,
    Province.salahaddin: 6,
    Province.diyala: 6,
    Province.basra: 8,
    Province.anbar: 4,
    Province.babil: 4,
    Province.karbala: 3,
    Province.najaf: 4,
    Province.wasit: 3,
    Province.qadisiyyah: 2,
    Province.maysan: 2,
    Province.dhi_qar: 3,
    Province.muthanna: 1,
}
