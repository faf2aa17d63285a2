"""The monthly bulletin: each language printed to PDF and read back with pdftotext (the
words, the published figures, and never a figure of a withheld row or day), right to left
in Arabic and Sorani, case titles as text, the month's cases told as at its end, and the
refusals (who, which month, which language or format).

pdftotext reads lam-alef ligatures (لا, لأ, لى, ڵا) back as alef-lam, so the words looked for
in the PDFs have none; the bidi marks it adds around runs are dropped before comparing.
"""

import re
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import ImageFile

from app import imaging
from app.bulletins import render
from app.bulletins.service import Month
from tests.bulletins.world import NAMES, THIN_DWELL, XSS_TITLE, World
from tests.factories import API, assert_problem, make_exporter

MONTH = "2026-11"
WORDS = {
    "en": [
        "Monthly bulletin",
        "November 2026",
        "Checkpoints ranked by delay",
        "too few exporters to publish",
        "Biggest changes compared with October 2026",
        "Complaint cases",
        "Still open at the end of the month",
    ],
    "ar": [
        "النشرة الشهرية",
        "تشرين الثاني 2026",
        "ترتيب السيطرات حسب التأخير",
        "عدد المصدرين قليل جدا للنشر",
        "السيطرات ومداخل المحافظات",
        "قضايا الشكاوى",
        "مدخل كركوك الجنوبي",
        "ساحة كمرك بغداد",
        "المقدمة في هذا الشهر",
    ],
    "ckb": [
        "مانگانە",
        "تشرینی دووەم 2026",
        "ڕیزبەندی بازگەکان بەپێی دواکەوتن",
        "ژمارەی هەناردەکاران کەمترە",
        "تشرینی یەکەم 2026",
        "دۆسیەکانی سک",
        "دەروازەی باشووری کەرکووک",
        "گۆڕەپانی گومرگی بەغدا",
        "پردی دیالە",
    ],
}
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
LAM_ALEF = re.compile("[لڵ][اأإآى]")


def get(world: World, month: str = MONTH, who: Any = None, **params: str) -> httpx.Response:
    headers = world.advocate.headers if who is None else who
    return world.client.get(f"{API}/bulletins/{month}", params=params, headers=headers)


def pdf_text(content: bytes) -> str:
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=content, capture_output=True, check=True
    ).stdout.decode()
    return BIDI_MARKS.sub("", text)


def numbers(text: str) -> set[str]:
    return set(re.findall(r"[0-9]+(?:\.[0-9]+)?", text))


def report(world: World, who: Any, month: Month) -> dict[str, dict[str, Any]]:
    """The checkpoint report for the month, by checkpoint code."""
    window = {"from": month.start.isoformat(), "to": month.end.isoformat()}
    response = world.client.get(f"{API}/reports/checkpoints", params=window, headers=who)
    assert response.status_code == 200, response.text
    return {row["checkpoint_code"]: row for row in response.json()["items"]}


@pytest.fixture(scope="module")
def pdfs(world: World) -> dict[str, str]:
    """Each language's PDF, as pdftotext reads it."""
    texts = {}
    for lang in WORDS:
        response = get(world, lang=lang)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="bulletin-{MONTH}-{lang}.pdf"'
        )
        assert response.content.startswith(b"%PDF-")
        texts[lang] = pdf_text(response.content)
    return texts


def withheld_figures(world: World) -> set[str]:
    """Every figure of what an advocate may not see, as the bulletin would print it: the
    thin trucks' waits, and the exact figures of the suppressed row (C)."""
    exact = report(world, world.admin.headers, Month(2026, 11))[NAMES["C"]["code"]]
    assert exact["completed_stops"] == 2  # the admin sees the thin trucks
    found = {str(v) for waits in THIN_DWELL.values() for v in waits}
    for field in ("p50_dwell_minutes", "p90_dwell_minutes", "mean_dwell_minutes"):
        found.add(render.minutes(exact[field]))
        found.add(f"{exact[field]:g}")
    found.add(render.hours(exact["total_delay_hours"]))
    return found


# --- the PDF in each language ---------------------------------------------------------------


@pytest.mark.parametrize("lang", list(WORDS))
def test_each_language_prints_its_words(pdfs: dict[str, str], lang: str) -> None:
    text = " ".join(pdfs[lang].split())
    for word in WORDS[lang]:
        assert not LAM_ALEF.search(word), f"{word!r}: pdftotext cannot read it back"
        assert word in text, f"{word!r} missing from the {lang} PDF:\n{text}"


@pytest.mark.parametrize("lang", list(WORDS))
def test_the_published_figures_are_the_advocates_report(
    world: World, pdfs: dict[str, str], lang: str
) -> None:
    shown = numbers(pdfs[lang])
    rows = report(world, world.advocate.headers, Month(2026, 11))
    for code in (NAMES["A"]["code"], NAMES["B"]["code"]):
        row = rows[code]
        assert row["suppressed"] is False
        assert row["completed_stops"] == 24  # the thin day at A is left out
        for figure in (
            str(row["completed_stops"]),
            render.minutes(row["p50_dwell_minutes"]),
            render.minutes(row["p90_dwell_minutes"]),
            render.hours(row["total_delay_hours"]),
        ):
            assert figure in shown, f"{code}: {figure} missing from the {lang} PDF"
    assert rows[NAMES["C"]["code"]]["suppressed"] is True


@pytest.mark.parametrize("lang", list(WORDS))
def test_no_figure_of_a_withheld_row_or_day_appears(
    world: World, pdfs: dict[str, str], lang: str
) -> None:
    leaked = withheld_figures(world) & numbers(pdfs[lang])
    assert not leaked, f"the {lang} PDF shows withheld figures {leaked}"


def test_an_admin_gets_the_advocates_figures_too(world: World) -> None:
    """A bulletin is passed on: an admin's copy carries no exact figure either."""
    response = get(world, who=world.admin.headers, format="html")
    assert response.status_code == 200, response.text
    assert not withheld_figures(world) & numbers(response.text)
    assert NAMES["C"]["name"] in response.text
    assert "too few exporters to publish" in response.text


# --- the HTML -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "direction"), [("en", "ltr"), ("ar", "rtl"), ("ckb", "rtl")])
def test_the_html_is_right_to_left_in_arabic_and_sorani(
    world: World, lang: str, direction: str
) -> None:
    response = get(world, lang=lang, format="html")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<html lang="{lang}" dir="{direction}">' in response.text
    # Figures stay left to right inside right-to-left text.
    assert '<span class="n" dir="ltr">' in response.text
    # A strict policy of its own: its one style element, nothing to fetch, no script.
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "script" not in policy
    assert "<script" not in response.text.lower()


def test_a_case_title_is_text_in_the_html_and_the_pdf(world: World, pdfs: dict[str, str]) -> None:
    page = get(world, format="html").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert XSS_TITLE not in page
    assert XSS_TITLE in pdfs["en"]


def test_the_months_cases_as_they_stood_at_its_end(world: World) -> None:
    page = get(world, format="html").text
    section = page[page.index('<section id="cases">') : page.index('<section id="policies">')]
    opened, resolved, still_open = section.split("<h3>")[1:]
    ref = {name: case["reference"] for name, case in world.cases.items()}

    def listed(chunk: str) -> list[str]:
        return re.findall(r"CASE-[0-9]{4}-[0-9]{4}", chunk)

    assert listed(opened) == sorted([ref["xss"], ref["late"]])
    assert listed(resolved) == [ref["resolved"]]
    assert listed(still_open) == sorted([ref["xss"], ref["late"]])
    assert ref["draft"] not in section
    # Acknowledged only on 1 December: submitted at the end of November.
    late = still_open[still_open.index(ref["late"]) :].split("</tr>")[0]
    assert "Submitted" in late
    assert "Acknowledged" not in late


def test_the_biggest_changes_compare_the_advocates_months(world: World) -> None:
    page = get(world, format="html").text
    section = page[page.index('<section id="changes">') : page.index('<section id="cases">')]
    now = report(world, world.advocate.headers, Month(2026, 11))
    before = report(world, world.advocate.headers, Month(2026, 10))
    code_a, code_b = NAMES["A"]["code"], NAMES["B"]["code"]
    change_a = now[code_a]["p50_dwell_minutes"] - before[code_a]["p50_dwell_minutes"]
    change_b = now[code_b]["p50_dwell_minutes"] - before[code_b]["p50_dwell_minutes"]
    assert change_a > 0 > change_b
    assert render.number(render.signed(change_a)) in section
    assert render.number(render.signed(change_b)) in section
    # The larger change first; C (suppressed in November, absent in October) not at all.
    larger, smaller = sorted([(abs(change_a), "A"), (abs(change_b), "B")], reverse=True)
    assert section.index(NAMES[larger[1]]["name"]) < section.index(NAMES[smaller[1]]["name"])
    assert NAMES["C"]["name"] not in section


def test_a_month_without_stops_says_so(world: World) -> None:
    response = get(world, "2026-09", format="html")
    assert response.status_code == 200, response.text
    assert "No stops were recorded this month." in response.text
    assert "No checkpoint has published figures in both months." in response.text


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "november", "2026-11-01"])
def test_a_malformed_month_is_a_422(world: World, month: str) -> None:
    problem = assert_problem(get(world, month), 422)
    assert "YYYY-MM" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["path", "month"]


def test_a_month_before_2000_is_a_422(world: World) -> None:
    assert "2000-01" in assert_problem(get(world, "1999-12"), 422)["detail"]


def test_a_month_not_over_yet_is_a_422_naming_the_latest(world: World) -> None:
    current = Month.of(datetime.now(UTC))
    for month in (current, current.following, Month(current.year + 1, current.month)):
        problem = assert_problem(get(world, str(month)), 422)
        assert "not over yet" in problem["detail"]
        assert str(current.previous) in problem["detail"]


@pytest.mark.parametrize("params", [{"lang": "fr"}, {"format": "docx"}])
def test_another_language_or_format_is_a_422(world: World, params: dict[str, str]) -> None:
    assert_problem(get(world, **params), 422)


def test_only_advocates_and_admins_read_bulletins(world: World) -> None:
    assert_problem(get(world, who={}), 401)
    exporter = make_exporter(world.client, world.admin)
    assert_problem(get(world, who=exporter.headers, format="html"), 403)
    assert get(world, who=world.admin.headers, format="html").status_code == 200


def test_printing_leaves_the_photo_checks_strict(pdfs: dict[str, str]) -> None:
    """WeasyPrint's import lets Pillow load truncated images; the evidence uploads refuse
    to run so (a 500 on every photo after a first bulletin, before render.py undid it)."""
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_months_turn_over_the_year() -> None:
    assert Month(2026, 1).previous == Month(2025, 12)
    assert Month(2026, 12).following == Month(2027, 1)
    assert Month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    assert str(Month(2026, 3)) == "2026-03"


def test_a_server_without_pango_says_so_and_still_serves_the_html(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def without_pango() -> None:
        raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(imaging, "weasyprint", without_pango)
    assert "pango" in assert_problem(get(world), 503)["detail"]
    assert get(world, format="html").status_code == 200
