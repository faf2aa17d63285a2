"""The languages the service speaks to people, and the shape of a word in all of them.

English, Arabic and Kurdish (Sorani, `ckb`): every name a person reads — a province, a
procedure, a hold reason — is a `Words` with all three filled in, defined once next to the
enum it names and served from there to the web pages (`app/web/words.py`).
"""

from enum import StrEnum
from typing import NamedTuple


class Language(StrEnum):
    en = "en"
    ar = "ar"
    ckb = "ckb"


RIGHT_TO_LEFT = frozenset({Language.ar, Language.ckb})


class Words(NamedTuple):
    """One name in English, Arabic and Central Kurdish (Sorani)."""

    en: str
    ar: str
    ckb: str
