"""The report as an A4 PDF (reportlab platypus), byte-identical for the same data.

Fonts: DejaVu Sans is embedded when the system has it (Debian/Ubuntu fonts-dejavu-core, Fedora,
Arch paths are tried), because reportlab's built-in Helvetica only covers Windows-1252: no "☕",
no "₽". Without DejaVu the PDF falls back to Helvetica, currencies it cannot draw are written as
codes ("12.00 RUB") and any other character it cannot draw becomes "?", so a report is never lost
to a product name. Either way, whatever is drawn is real text (pypdf can extract it).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from jobctl.jobs.reports import charts
from jobctl.jobs.reports.render import (
    CURRENCY_SYMBOLS,
    deltas,
    format_count,
    format_delta,
    format_delta_pct,
    format_money,
    format_value,
    product_names,
)

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu-sans-fonts",
)
MARGIN = 18 * mm
CONTENT_WIDTH = A4[0] - 2 * MARGIN
HEADER_BG = colors.HexColor("#e8eef7")
ZEBRA_BG = colors.HexColor("#f6f6f6")
MUTED = colors.HexColor("#555555")


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    covers: Callable[[str], bool]  # can this font draw the character?

    def clean(self, text: Any) -> str:
        return "".join(ch if self.covers(ch) else "?" for ch in str(text))


def _winansi(ch: str) -> bool:
    try:
        ch.encode("cp1252")  # the encoding reportlab's standard fonts use
        return True
    except UnicodeEncodeError:
        return False


def _has_glyph(glyphs: Mapping[int, int], ch: str) -> bool:
    return ord(ch) in glyphs or ch in "\n\t"


@functools.cache
def fonts() -> Fonts:
    """DejaVu Sans when installed (registered once per process), else Helvetica."""
    for folder in map(Path, FONT_DIRS):
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            face = TTFont("DejaVuSans", str(regular))
            pdfmetrics.registerFont(face)
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            covers = functools.partial(_has_glyph, face.face.charToGlyph)
            return Fonts("DejaVuSans", "DejaVuSans-Bold", covers)
    return Fonts("Helvetica", "Helvetica-Bold", _winansi)


def _day(iso: str, pattern: str = "%a %d %b %Y") -> str:
    return date.fromisoformat(iso).strftime(pattern)


def _period(period: Mapping[str, str] | None) -> str:
    if not period:
        return ""
    if period["start"] == period["end"]:
        return _day(period["start"], "%A %d %B %Y")
    return f"{_day(period['start'])} – {_day(period['end'])}"


def _moment(stamp: str) -> str:
    return datetime.fromisoformat(stamp).strftime("%a %d %b %Y, %H:%M UTC")


def _generated(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)  # shown as given rather than refusing the whole report
    zone = moment.tzname()
    return moment.strftime("%d %B %Y, %H:%M") + (f" {zone}" if zone else "")


class _Builder:
    """Holds the fonts, styles and currency so the section methods stay short."""

    def __init__(self, data: Mapping[str, Any]):
        self.data, self.fonts = data, fonts()
        self.currency = data["currency"]
        self.symbols = {code: s for code, s in CURRENCY_SYMBOLS.items() if all(map(self.fonts.covers, s))}
        base = ParagraphStyle("body", fontName=self.fonts.regular, fontSize=9.5, leading=13)
        self.body = base
        self.muted = ParagraphStyle("muted", parent=base, textColor=MUTED)
        self.h1 = ParagraphStyle("h1", parent=base, fontName=self.fonts.bold, fontSize=17, leading=22)
        self.h2 = ParagraphStyle(
            "h2",
            parent=base,
            fontName=self.fonts.bold,
            fontSize=12.5,
            leading=16,
            spaceBefore=10,
            spaceAfter=4,
        )
        self.cell = ParagraphStyle("cell", parent=base, fontSize=9, leading=11)
        self.chart_look: dict[str, Any] = {
            "font": self.fonts.regular,
            "bold": self.fonts.bold,
            "width": CONTENT_WIDTH,
        }

    def para(self, text: Any, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(self.fonts.clean(text)), style or self.body)

    def money(self, cents: int | None) -> str:
        return format_money(cents, self.currency, self.symbols)

    def table(self, rows: list[list[Any]], widths: list[float], numeric_from: int) -> Table:
        """Header row in bold, zebra stripes, columns from `numeric_from` on right-aligned. Callers wrap
        it in KeepTogether: a table that fits on a page moves whole to the next one rather than leave
        a lone row or a bare header behind; a longer one splits by row, its header repeated."""
        table = Table(rows, colWidths=widths, repeatRows=1)
        style: list[tuple[Any, ...]] = [
            ("FONT", (0, 0), (-1, -1), self.fonts.regular, 9),
            ("FONT", (0, 0), (-1, 0), self.fonts.bold, 9),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
            ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.grey),
        ]
        style += [("BACKGROUND", (0, row), (-1, row), ZEBRA_BG) for row in range(2, len(rows), 2)]
        table.setStyle(TableStyle(style))
        return table

    def header(self) -> list:
        data = self.data
        lines = [
            self.para(data["title"], self.h1),
            Spacer(1, 2),
            self.para(f"Period: {_period(data['period'])}"),
        ]
        previous, partial = data.get("previous_period"), data.get("partial")
        if partial:
            lines.append(
                self.para(
                    f"Partial period: figures through {_moment(partial['through'])}, compared with the same"
                    f" span of the previous period (through {_moment(partial['previous_through'])})."
                )
            )
        lines.append(
            self.para(
                f"Compared with: {_period(previous)}" if previous else "No previous period to compare with.",
                self.muted,
            )
        )
        lines.append(self.para(f"Generated {_generated(data.get('generated_at', ''))}", self.muted))
        return lines

    def summary(self) -> list:
        rows = [["Metric", "Value", "Previous", "Change", "Change %"]]
        for metric in self.data.get("metrics", []):
            unit, (delta, pct) = metric["unit"], deltas(metric)
            rows.append(
                [
                    self.fonts.clean(metric["label"]),
                    format_value(unit, metric.get("value"), self.currency, self.symbols),
                    format_value(unit, metric.get("previous"), self.currency, self.symbols),
                    format_delta(unit, delta, self.currency, self.symbols),
                    format_delta_pct(pct),
                ]
            )
        widths = [62 * mm, 30 * mm, 30 * mm, 30 * mm, 22 * mm]
        parts: list = [KeepTogether([self.para("Summary", self.h2), self.table(rows, widths, 1)])]
        orders = {m["name"]: m.get("value") for m in self.data.get("metrics", [])}.get("purchases")
        if orders == 0:
            parts += [Spacer(1, 4), self.para("No orders in this period.", self.muted)]
        return parts

    def days(self) -> list:
        daily, heading = self.data.get("daily", []), self.para("Day by day", self.h2)
        if not daily:
            return [heading, self.para("No daily figures for this period.", self.muted)]
        rows = [["Day", "Revenue", "Orders", "Page views", "Unique visitors"]]
        rows += [
            [
                _day(d["date"]),
                self.money(d.get("revenue")),
                format_count(d.get("purchases")),
                format_count(d.get("page_views")),
                format_count(d.get("unique_visitors")),
            ]
            for d in daily
        ]
        labels = [_day(d["date"], "%a %d") for d in daily]
        revenue = charts.per_day_bars(
            "Revenue per day",
            labels,
            [d.get("revenue", 0) for d in daily],
            f"Revenue ({self.currency})",
            charts.cents_tick,
            **self.chart_look,
        )
        orders = charts.per_day_bars(
            "Orders per day",
            labels,
            [d.get("purchases", 0) for d in daily],
            "Orders",
            charts.count_tick,
            whole=True,
            **self.chart_look,
        )
        table = self.table(rows, [40 * mm, 36 * mm, 28 * mm, 32 * mm, 38 * mm], 1)
        return [
            KeepTogether([heading, table]),
            Spacer(1, 10),
            KeepTogether([revenue]),
            Spacer(1, 10),
            KeepTogether([orders]),
        ]

    def top_products(self) -> list:
        products = self.data.get("top_products", [])
        heading = self.para("Top products", self.h2)
        if not products:
            return [heading, self.para("No orders in this period, so no top products.", self.muted)]
        names = [self.fonts.clean(name) for name in product_names(products)]
        chart = charts.top_products_bars(
            "Top products by revenue",
            names,
            [p["revenue"] for p in products],
            f"Revenue ({self.currency})",
            **self.chart_look,
        )
        rows: list[list[Any]] = [["#", "Product", "Category", "Units", "Revenue"]]
        rows += [
            [
                str(rank),
                self.para(name, self.cell),
                self.para(p.get("category", ""), self.cell),
                format_count(p["units"]),
                self.money(p["revenue"]),
            ]
            for rank, (p, name) in enumerate(zip(products, names), 1)
        ]
        table = self.table(rows, [10 * mm, 76 * mm, 34 * mm, 22 * mm, 32 * mm], 3)
        return [KeepTogether([heading, chart]), Spacer(1, 8), KeepTogether([table])]

    def story(self) -> list:
        parts = self.header() + self.summary()
        if self.data.get("kind") == "weekly":
            parts += self.days()
        return parts + self.top_products()

    def footer(self, canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(self.fonts.regular, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 10 * mm, self.fonts.clean(self.data["title"]))
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()


def render_pdf(data: Mapping[str, Any]) -> bytes:
    """The report as PDF bytes; `invariant` keeps reportlab's timestamps and IDs out, so equal data
    gives equal bytes (cacheable, diffable, testable)."""
    builder = _Builder(data)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        invariant=1,
        title=builder.fonts.clean(data["title"]),
        author="jobctl",
        creator="jobctl reports",
        subject=f"{data.get('kind', '')} report",
    )
    doc.build(builder.story(), onFirstPage=builder.footer, onLaterPages=builder.footer)
    return buffer.getvalue()
