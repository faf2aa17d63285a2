"""The words shared with the pages: defined once in Python, complete in three languages,
served to the pages as they are defined, and copied into no script."""

import json
import re
import unicodedata

import pytest
from fastapi.testclient import TestClient

from app.checkpoints.models import Authority, CheckpointKind, Jurisdiction
from app.geography import Province
from app.languages import Language, Words
from app.tracking.vocabulary import Currency, EventType, HoldReason, Procedure
from app.web.router import STATIC
from app.web.words import VOCABULARIES, words

# Every enum whose values a person reads on a page.
ENUMS = {
    "province": Province,
    "procedure": Procedure,
    "hold": HoldReason,
    "event": EventType,
    "kind": CheckpointKind,
    "authority": Authority,
    "jurisdiction": Jurisdiction,
}
# Letters of the Arabic alphabet that Sorani does not write (it has ک ی ە for ك ي ة ى) …
ARABIC_ONLY = set("كيةىإأآؤ")
# … and Kurdish letters that Arabic does not write.
KURDISH_ONLY = set("کیەۆێڵڕپچژگڤ")


def arabic_script(text: str) -> bool:
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    return bool(letters) and all("ARABIC" in unicodedata.name(c, "") for c in letters)


@pytest.mark.parametrize("prefix", ENUMS)
def test_every_enum_member_has_a_name_in_all_three_languages(prefix: str) -> None:
    enum, names = VOCABULARIES[prefix]
    assert enum is ENUMS[prefix]
    assert set(names) == set(enum), "every member named, nothing else"
    for member, name in names.items():
        assert isinstance(name, Words)
        assert all(part.strip() == part and part for part in name), member
        assert re.fullmatch(r"[A-Za-z][A-Za-z '\-]*", name.en), (member, name.en)
        assert arabic_script(name.ar), (member, name.ar)
        assert arabic_script(name.ckb), (member, name.ckb)
        assert not set(name.ar) & KURDISH_ONLY, (member, "Kurdish letters in Arabic", name.ar)
        assert not set(name.ckb) & ARABIC_ONLY, (member, "Arabic letters in Sorani", name.ckb)
    for language in Language:
        spelled = [getattr(name, language) for name in names.values()]
        assert len(set(spelled)) == len(spelled), (prefix, language, "two members, one name")


def test_wasit_is_spelled_one_way_in_sorani() -> None:
    assert VOCABULARIES["province"][1][Province.wasit] == Words("Wasit", "واسط", "واست")


def test_the_served_words_are_the_python_definitions(client: TestClient) -> None:
    response = client.get("/static/web/words.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    served = json.loads(re.search(r"window\.WORDS = (\{.*\});", response.text).group(1))  # type: ignore[union-attr]
    assert served == json.loads(json.dumps(words()))
    for prefix, enum in ENUMS.items():
        assert served["lists"][prefix] == [member.value for member in enum]
        for member in enum:
            for language in Language:
                name = getattr(VOCABULARIES[prefix][1][member], language)
                assert served["labels"][language][f"{prefix}.{member.value}"] == name
    assert served["currencies"] == [c.value for c in Currency]
    assert set(served["capitals"]) == {p.value for p in Province}
    assert served["languages"] == ["en", "ar", "ckb"]
    assert served["rightToLeft"] == ["ar", "ckb"]

    # Revalidated cheaply, like the static files beside it.
    etag = response.headers["etag"]
    again = client.get("/static/web/words.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_no_script_holds_a_copy_of_the_shared_words() -> None:
    """The names of provinces, procedures, hold reasons … appear in no page's script."""
    scripts = {path.name: path.read_text(encoding="utf-8") for path in STATIC.glob("*.js")}
    assert scripts
    for prefix, (_, names) in VOCABULARIES.items():
        for member, name in names.items():
            for text in (name.ar, name.ckb):
                if len(text) < 4:  # a short word ("تر", "other") may be part of another
                    continue
                for file, script in scripts.items():
                    assert f'"{text}"' not in script, (file, prefix, member, text)
            for file, script in scripts.items():
                assert f'"{prefix}.{member.value}":' not in script, (file, prefix, member)
