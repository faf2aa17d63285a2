"""Iraq's provinces (as API slugs, with their names in three languages) and the great-circle
distance used to estimate trip length."""

import math
from enum import StrEnum

from app.languages import Words


class Province(StrEnum):
    baghdad = "baghdad"
    basra = "basra"
    nineveh = "nineveh"
    erbil = "erbil"
    sulaymaniyah = "sulaymaniyah"
    duhok = "duhok"
    halabja = "halabja"
    kirkuk = "kirkuk"
    diyala = "diyala"
    anbar = "anbar"
    babil = "babil"
    karbala = "karbala"
    najaf = "najaf"
    wasit = "wasit"
    maysan = "maysan"
    dhi_qar = "dhi_qar"
    muthanna = "muthanna"
    qadisiyyah = "qadisiyyah"
    salahaddin = "salahaddin"


# Approximate position of each province's capital (lat, lon). Only used to estimate a trip's
# length when the exporter gives none; the estimate is flagged as such.
PROVINCE_CAPITALS: dict[Province, tuple[float, float]] = {
    Province.baghdad: (33.315, 44.366),
    Province.basra: (30.508, 47.783),
    Province.nineveh: (36.340, 43.130),
    Province.erbil: (36.191, 44.009),
    Province.sulaymaniyah: (35.557, 45.435),
    Province.duhok: (36.867, 42.988),
    Province.halabja: (35.178, 45.986),
    Province.kirkuk: (35.468, 44.392),
    Province.diyala: (33.750, 44.643),
    Province.anbar: (33.426, 43.299),
    Province.babil: (32.483, 44.433),
    Province.karbala: (32.616, 44.025),
    Province.najaf: (31.996, 44.315),
    Province.wasit: (32.512, 45.818),
    Province.maysan: (31.836, 47.145),
    Province.dhi_qar: (31.052, 46.257),
    Province.muthanna: (31.318, 45.282),
    Province.qadisiyyah: (31.987, 44.925),
    Province.salahaddin: (34.607, 43.678),
}

# Roads are longer than straight lines; 1.3 is a common detour factor for inter-city roads.
ROAD_DETOUR_FACTOR = 1.3
EARTH_RADIUS_KM = 6371.0


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def estimate_road_km(points: list[tuple[float, float]]) -> float:
    """Road length along the given points: the sum of legs times the detour factor."""
    legs = sum(great_circle_km(a, b) for a, b in zip(points, points[1:], strict=False))
    return round(legs * ROAD_DETOUR_FACTOR, 1)


# The provinces' names as people read them. Sorani spells Wasit "واست" (no ط in Kurdish).
PROVINCE_NAMES: dict[Province, Words] = {
    Province.baghdad: Words("Baghdad", "بغداد", "بەغدا"),
    Province.basra: Words("Basra", "البصرة", "بەسرە"),
    Province.nineveh: Words("Nineveh", "نينوى", "نەینەوا"),
    Province.erbil: Words("Erbil", "أربيل", "هەولێر"),
    Province.sulaymaniyah: Words("Sulaymaniyah", "السليمانية", "سلێمانی"),
    Province.duhok: Words("Duhok", "دهوك", "دهۆک"),
    Province.halabja: Words("Halabja", "حلبجة", "هەڵەبجە"),
    Province.kirkuk: Words("Kirkuk", "كركوك", "کەرکووک"),
    Province.diyala: Words("Diyala", "ديالى", "دیالە"),
    Province.anbar: Words("Anbar", "الأنبار", "ئەنبار"),
    Province.babil: Words("Babil", "بابل", "بابل"),
    Province.karbala: Words("Karbala", "كربلاء", "کەربەلا"),
    Province.najaf: Words("Najaf", "النجف", "نەجەف"),
    Province.wasit: Words("Wasit", "واسط", "واست"),
    Province.maysan: Words("Maysan", "ميسان", "مەیسان"),
    Province.dhi_qar: Words("Dhi Qar", "ذي قار", "زیقار"),
    Province.muthanna: Words("Muthanna", "المثنى", "موسەننا"),
    Province.qadisiyyah: Words("Qadisiyyah", "القادسية", "قادسیە"),
    Province.salahaddin: Words("Salahaddin", "صلاح الدين", "سەلاحەدین"),
}
