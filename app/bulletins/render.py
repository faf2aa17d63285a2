"""The bulletin as one HTML document, and that document as a PDF (WeasyPrint).

The HTML is self-contained: one style element, inline SVG charts, no script, no image,
no font or anything else to fetch (the fonts are the system's, through fontconfig: Debian's
fonts-noto-core for Latin and Arabic script). Every text that comes from the database
(checkpoint names, case titles) is escaped here and nowhere else: a case title stored as
`<script>…` is printed as those characters. Figures are wrapped left-to-right, so that a
`-12` stays `-12` inside Arabic or Sorani text.

The same HTML is served as the page (`format=html`) under a policy that allows exactly its
style element and no script at all (`content_security_policy`).
"""

import base64
import hashlib
from datetime import datetime
from html import escape
from typing import Any

from app import imaging
from app.bulletins import charts
from app.bulletins.service import Bulletin, CaseLine, Change, Month, PolicyEffect, Ranked
from app.bulletins.words import MONTHS, TEXT
from app.cases.labels import CATEGORY_NAMES, STATUS_NAMES
from app.checkpoints.models import Checkpoint
from app.errors import AppError
from app.geography import PROVINCE_NAMES, Province
from app.languages import RIGHT_TO_LEFT, Language, Words


class PrintingUnavailable(AppError):
    status, title, slug = 503, "Service unavailable", "unavailable"


CHART_ROWS = 15  # the chart shows the worst checkpoints; the table shows them all

STYLE = """
@page { size: A4; margin: 14mm 13mm 16mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
html { font-family: "Noto Sans", "Noto Sans Arabic", sans-serif; font-size: 9.5pt;
  color: #1d232a; line-height: 1.35; }
html:lang(ar), html:lang(ckb) { font-family: "Noto Sans Arabic", "Noto Sans", sans-serif; }
body { margin: 0; }
@media screen { body { max-width: 54rem; margin: 1.5rem auto; padding: 0 1rem; } }
header { border-bottom: 2px solid #b3261e; padding-bottom: 6pt; margin-bottom: 8pt; }
h1 { font-size: 19pt; margin: 0; }
h1 .month { color: #b3261e; }
h2 { font-size: 12.5pt; margin: 14pt 0 4pt; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 10pt 0 3pt; break-after: avoid; }
p { margin: 2pt 0 5pt; }
.sub { font-size: 10.5pt; margin: 3pt 0; }
.meta, .note, .legend { color: #555; font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; margin: 3pt 0 6pt; }
th, td { padding: 2.5pt 4pt; border-bottom: 0.5pt solid #d5d8dc; text-align: start;
  vertical-align: middle; }
thead th { background: #f1f2f4; font-size: 8.5pt; }
td.num, th.num { text-align: end; }
td.num { white-space: nowrap; }
td.withheld { color: #6b6f75; font-style: italic; }
tr { break-inside: avoid; }
table.chart { width: auto; }
table.chart caption { text-align: start; font-weight: bold; padding-bottom: 3pt; }
table.chart th, table.chart td { border: 0; padding: 0 4pt; font-weight: normal; }
table.chart td.bars { padding: 0; }
table.chart svg { display: block; }
.legend svg { vertical-align: middle; }
.up { color: #b3261e; } .down { color: #1e6b3a; }
"""


# --- figures as text ----------------------------------------------------------------------


def number(text: str) -> str:
    """A figure, kept left to right inside any text (`-12` never becomes `12-`)."""
    return f'<span class="n" dir="ltr">{escape(text)}</span>'


def minutes(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def signed(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{value:+.{digits}f}"
    return "0" if text.lstrip("+-").strip("0.") == "" else text


def month_name(month: Month, language: Language) -> str:
    return f"{getattr(MONTHS[month.month - 1], language)} {month.year}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


# --- the document ---------------------------------------------------------------------------


class _Page:
    """One bulletin in one language."""

    def __init__(self, bulletin: Bulletin, language: Language) -> None:
        self.b = bulletin
        self.lang = language
        self.rtl = language in RIGHT_TO_LEFT

    def t(self, key: str, **values: str) -> str:
        """A fixed word, escaped, with its `{values}` (HTML, made here) filled in."""
        text = escape(getattr(TEXT[key], self.lang))
        return text.format(**values) if values else text

    def word(self, words: Words) -> str:
        return escape(getattr(words, self.lang))

    def name(self, checkpoint: Checkpoint) -> str:
        """The checkpoint's name in the bulletin's language where the registry has it."""
        local = {Language.ar: checkpoint.name_ar, Language.ckb: checkpoint.name_ckb}.get(self.lang)
        return local or checkpoint.name

    def province(self, slug: str) -> str:
        try:
            return self.word(PROVINCE_NAMES[Province(slug)])
        except ValueError:
            return escape(slug)

    def document(self) -> str:
        b = self.b
        title = f"{self.t('title')} — {escape(month_name(b.month, self.lang))}"
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="{self.lang.value}" dir="{"rtl" if self.rtl else "ltr"}">'
            '<head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            f"{self.header()}{self.ranking()}{self.changes()}{self.cases()}"
            f"{self.policies()}{self.method()}</body></html>"
        )

    def header(self) -> str:
        b = self.b
        month = escape(month_name(b.month, self.lang))
        return (
            f'<header><h1>{self.t("title")} · <span class="month">{month}</span></h1>'
            f'<p class="sub">{self.t("subtitle")}</p>'
            f'<p class="meta">{self.t("tracker")} · {self.t("period", month=month)} · '
            f"{self.t('generated', date=number(_when(b.generated_at) + ' UTC'))}</p></header>"
        )

    def ranking(self) -> str:
        parts = [f'<section id="ranking"><h2>{self.t("ranking")}</h2>']
        if not self.b.ranking:
            parts.append(f"<p>{self.t('no_stops')}</p></section>")
            return "".join(parts)
        parts.append(f'<p class="note">{self.t("ranking_note")}</p>')
        parts.append(self.chart())
        heads = ("completed_stops", "p50", "p90", "hold_rate", "delay_hours")
        parts.append(
            f'<table class="ranking"><thead><tr><th class="num">{self.t("rank")}</th>'
            f"<th>{self.t('checkpoint')}</th><th>{self.t('province')}</th>"
            + "".join(f'<th class="num">{self.t(h)}</th>' for h in heads)
            + "</tr></thead><tbody>"
        )
        for rank, ranked in enumerate(self.b.ranking, start=1):
            parts.append(self.ranking_row(rank, ranked))
        parts.append("</tbody></table></section>")
        return "".join(parts)

    def ranking_row(self, rank: int, ranked: Ranked) -> str:
        row, checkpoint = ranked.row, ranked.checkpoint
        start = (
            f'<tr><td class="num">{number(str(rank)) if not row.suppressed else ""}</td>'
            f"<td>{escape(self.name(checkpoint))}</td><td>{self.province(row.province)}</td>"
        )
        if row.suppressed:
            # No figure at all, counts included: the row says only that it is withheld.
            return f'{start}<td class="withheld" colspan="5">{self.t("suppressed")}</td></tr>'
        cells = (
            str(row.completed_stops),
            minutes(row.p50_dwell_minutes),
            minutes(row.p90_dwell_minutes),
            share(row.hold_rate),
            hours(row.total_delay_hours),
        )
        return start + "".join(f'<td class="num">{number(c)}</td>' for c in cells) + "</tr>"

    def chart(self) -> str:
        bars = [
            charts.Bar(
                label=self.name(r.checkpoint),
                median=r.row.p50_dwell_minutes,
                p90=r.row.p90_dwell_minutes,
                figures=number(
                    f"{minutes(r.row.p50_dwell_minutes)} / {minutes(r.row.p90_dwell_minutes)}"
                ),
            )
            for r in self.b.ranking
            if not r.row.suppressed
            and r.row.p50_dwell_minutes is not None
            and r.row.p90_dwell_minutes is not None
        ][:CHART_ROWS]
        return charts.bar_chart(
            bars,
            rtl=self.rtl,
            caption=getattr(TEXT["chart"], self.lang),
            legend=(getattr(TEXT["median"], self.lang), getattr(TEXT["percentile90"], self.lang)),
        )

    def changes(self) -> str:
        before = escape(month_name(self.b.month.previous, self.lang))
        now = escape(month_name(self.b.month, self.lang))
        parts = [f'<section id="changes"><h2>{self.t("changes", month=before)}</h2>']
        if not self.b.changes:
            parts.append(f"<p>{self.t('no_changes')}</p></section>")
            return "".join(parts)
        parts.append(
            f'<p class="note">{self.t("changes_note")}</p>'
            f'<table class="changes"><thead><tr><th rowspan="2">{self.t("checkpoint")}</th>'
            f'<th colspan="3">{self.t("p50")}</th><th colspan="3">{self.t("hold_rate")}</th>'
            "</tr><tr>"
            + (
                f'<th class="num">{before}</th><th class="num">{now}</th>'
                f'<th class="num">{self.t("change")}</th>'
            )
            * 2
            + "</tr></thead><tbody>"
        )
        parts.extend(self.change_row(c) for c in self.b.changes)
        parts.append("</tbody></table></section>")
        return "".join(parts)

    def change_row(self, change: Change) -> str:
        def trend(value: float | None, text: str, unit: str = "") -> str:
            kind = "num" if not value else ("num up" if value > 0 else "num down")
            return f'<td class="{kind}">{number(text)}{unit}</td>'

        hold = change.hold_rate_change
        return (
            f"<tr><td>{escape(self.name(change.checkpoint))}</td>"
            f'<td class="num">{number(minutes(change.before.p50_dwell_minutes))}</td>'
            f'<td class="num">{number(minutes(change.now.p50_dwell_minutes))}</td>'
            f"{trend(change.p50_change, signed(change.p50_change))}"
            f'<td class="num">{number(share(change.before.hold_rate))}</td>'
            f'<td class="num">{number(share(change.now.hold_rate))}</td>'
            f"{trend(hold, signed(None if hold is None else hold * 100), ' ' + self.t('points'))}"
            "</tr>"
        )

    def cases(self) -> str:
        found = self.b.cases
        groups = (
            ("cases_opened", found.opened),
            ("cases_resolved", found.resolved),
            ("cases_open", found.still_open),
        )
        parts = [f'<section id="cases"><h2>{self.t("cases")}</h2>']
        for key, lines in groups:
            parts.append(f"<h3>{self.t(key)} ({number(str(len(lines)))})</h3>")
            parts.append(self.case_table(lines))
        parts.append("</section>")
        return "".join(parts)

    def case_table(self, lines: list[CaseLine]) -> str:
        if not lines:
            return f'<p class="note">{self.t("none")}</p>'
        head = "".join(
            f"<th>{self.t(k)}</th>" for k in ("reference", "case_title", "category", "status")
        )
        rows = "".join(
            f"<tr><td>{number(line.reference)}</td>"
            f'<td class="title" dir="auto">{escape(line.title)}</td>'
            f"<td>{self.word(CATEGORY_NAMES[line.category])}</td>"
            f"<td>{self.word(STATUS_NAMES[line.status])}</td></tr>"
            for line in lines
        )
        return f'<table class="cases"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    def policies(self) -> str:
        parts = [f'<section id="policies"><h2>{self.t("policies")}</h2>']
        if not self.b.policies:
            parts.append(f'<p class="note">{self.t("no_policies")}</p></section>')
            return "".join(parts)
        head = "".join(
            f"<th>{self.t(k)}</th>"
            for k in ("policy", "effective", "checkpoint", "median_change", "interval")
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>")
        parts.extend(self.policy_row(p) for p in self.b.policies)
        parts.append("</tbody></table></section>")
        return "".join(parts)

    def policy_row(self, policy: PolicyEffect) -> str:
        names = "، ".join if self.rtl else ", ".join
        start = (
            f'<tr><td class="title" dir="auto">{escape(policy.title)}</td>'
            f"<td>{number(policy.effective_at.strftime('%Y-%m-%d'))}</td>"
            f"<td>{names(escape(self.name(c)) for c in policy.checkpoints)}</td>"
        )
        if policy.insufficient_data or policy.median_change_minutes is None:
            return f'{start}<td class="withheld" colspan="2">{self.t("insufficient")}</td></tr>'
        low, high = policy.median_change_ci95 or (None, None)
        interval = f"{signed(low)} … {signed(high)}" if low is not None else "–"
        return (
            f'{start}<td class="num">{number(signed(policy.median_change_minutes))}</td>'
            f'<td class="num">{number(interval)}</td></tr>'
        )

    def method(self) -> str:
        b = self.b
        note = self.t(
            "method_note",
            k=number(str(b.min_exporters)),
            n=number(str(b.min_stops)),
            x=number(str(b.excluded_stops)),
            as_of=number(_when(b.as_of)),
        )
        heading = f"<h2>{self.t('method')}</h2>"
        return f'<section id="method">{heading}<p class="note">{note}</p></section>'


def html(bulletin: Bulletin, language: Language) -> str:
    return _Page(bulletin, language).document()


def content_security_policy(document: str) -> str:
    """Nothing but the document's own style element: no script (not even inline), no
    request to anywhere, no form, no frame."""
    start = document.index("<style>") + len("<style>")
    style = document[start : document.index("</style>", start)]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def pdf(document: str) -> bytes:
    """The document printed by WeasyPrint (imported at a first PDF: app/imaging.py), which
    fetches nothing (no URL is allowed)."""
    try:
        printer = imaging.weasyprint()
    except OSError as missing:  # pango not installed: the service runs, and a PDF says why not
        raise PrintingUnavailable(
            'This server cannot print PDFs: it lacks pango or its fonts (README, "Two '
            f'commands"; {missing}). format=html gives the same bulletin.'
        ) from missing
    fetcher = printer.urls.URLFetcher(allowed_protocols=[])
    result: Any = printer.HTML(string=document, url_fetcher=fetcher).write_pdf()
    return bytes(result)
