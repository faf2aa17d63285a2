"""Each page's own strings exist in all three languages: nothing falls back to English."""

import re

import pytest

from app.web.router import STATIC

KEY = re.compile(r'"([a-z]+\.[A-Za-z0-9_.]+)":')
# A literal key asked for by t("…"); one built at run time ("drv.state." + …) ends with a dot.
ASKED = re.compile(r'\bt\("((?:dash|drv|col|series|live|day)\.[A-Za-z0-9_.]*[A-Za-z0-9_])"')


def blocks(script: str) -> dict[str, set[str]]:
    """The keys of each language's block in `I18N.add({en: {...}, ar: {...}, ckb: {...}})`."""
    starts = [(m.group(1), m.end()) for m in re.finditer(r"^\s{2}(en|ar|ckb): \{", script, re.M)]
    keys = {}
    for i, (language, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(script)
        keys[language] = set(KEY.findall(script[start:end]))
    return keys


@pytest.mark.parametrize("name", ["dashboard-strings.js", "driver-strings.js", "live-strings.js"])
def test_a_pages_strings_are_complete_in_three_languages(name: str) -> None:
    keys = blocks((STATIC / name).read_text(encoding="utf-8"))
    assert set(keys) == {"en", "ar", "ckb"}
    assert keys["en"], name
    assert keys["ar"] == keys["en"], (name, keys["en"] ^ keys["ar"])
    assert keys["ckb"] == keys["en"], (name, keys["en"] ^ keys["ckb"])


def test_every_string_a_script_asks_for_exists() -> None:
    defined = set()
    for name in ("dashboard-strings.js", "driver-strings.js", "live-strings.js"):
        defined |= blocks((STATIC / name).read_text(encoding="utf-8"))["en"]
    for name in ("dashboard.js", "driver.js", "live.js"):
        script = (STATIC / name).read_text(encoding="utf-8")
        asked = set(ASKED.findall(script))
        assert asked, name
        assert asked <= defined, (name, asked - defined)
    for name in ("dashboard.html", "driver.html", "live.html"):
        page = (STATIC.parent / "templates" / name).read_text(encoding="utf-8")
        asked = set(re.findall(r'data-i18n(?:-[a-z]+)?="([^"]+)"', page))
        assert asked <= defined, (name, asked - defined)
