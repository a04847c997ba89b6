"""Report data (a plain dict computed from the database) to JSON, CSV or PDF bytes.

The data's shape is described in the package docstring. Money arrives as integer cents and ratios as
decimal strings; all arithmetic here is Decimal with half-up rounding, so a figure never picks up
float noise on its way into a spreadsheet or a PDF. Changes against the previous period are computed
here, once, by `deltas`, so the three formats can never disagree.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FORMATS = ("json", "csv", "pdf")
UNITS = ("cents", "count", "ratio")
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "RUB": "₽"}
NO_VALUE = "–"  # en dash: in every font the PDF may use, and unlike "0" it cannot be misread as data

PCT_PLACES = Decimal("0.1")  # change %: one decimal is what a reader compares
PP_PLACES = Decimal("0.0001")  # ratios come with 6 decimals, i.e. 4 in percentage points
CENT = Decimal("0.01")

CSV_COLUMNS = (
    "section",
    "period_start",
    "period_end",
    "date",
    "rank",
    "product_id",
    "product",
    "category",
    "metric",
    "label",
    "unit",
    "currency",
    "value",
    "previous",
    "delta",
    "delta_pct",
)


def _round(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def _plain(value: Decimal) -> str:
    return format(value, "f")  # never "1E+2"


def deltas(metric: Mapping[str, Any]) -> tuple[int | Decimal | None, Decimal | None]:
    """(delta, delta_pct) of a metric against its previous value; (None, None) without one.

    delta is in the metric's own unit (int cents, int count) except for ratios, where it is in
    percentage points (a Decimal, 4 places): 2.90% -> 3.125% is "+0.2250" pp, not "+0.00225".
    delta_pct is the relative change in percent, rounded half-up to 1 place, None when the previous
    value is 0 (no base to compare with).
    """
    unit, value, previous = metric["unit"], metric.get("value"), metric.get("previous")
    if unit not in UNITS:
        raise ValueError(f"metric {metric.get('name')!r}: unknown unit {unit!r} (expected one of {UNITS})")
    if value is None or previous is None:
        return None, None
    current, before = Decimal(str(value)), Decimal(str(previous))
    pct = None if before == 0 else _round((current - before) * 100 / before, PCT_PLACES)
    if unit == "ratio":
        return _round((current - before) * 100, PP_PLACES), pct
    return int(value) - int(previous), pct


# -- display strings, shared by the PDF and by anything else that shows a report to a person --


def format_count(value: int | None) -> str:
    return NO_VALUE if value is None else f"{int(value):,}"


def format_money(cents: int | None, currency: str, symbols: Mapping[str, str] = CURRENCY_SYMBOLS) -> str:
    """ "$12,345.67", "-€5.00", or "12,345.67 CHF" for a currency without a known symbol."""
    if cents is None:
        return NO_VALUE
    units = Decimal(int(cents)).scaleb(-2)  # exact: no float, no rounding
    sign, digits = ("-" if units < 0 else ""), f"{abs(units):,.2f}"
    symbol = symbols.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency}"


def format_ratio(fraction: str | Decimal | None) -> str:
    """ "0.031250" -> "3.13%"."""
    return NO_VALUE if fraction is None else f"{_round(Decimal(str(fraction)) * 100, CENT)}%"


def format_value(unit: str, value: Any, currency: str, symbols: Mapping[str, str] = CURRENCY_SYMBOLS) -> str:
    if unit == "cents":
        return format_money(value, currency, symbols)
    if unit == "ratio":
        return format_ratio(value)
    return format_count(value)


def format_delta(
    unit: str, delta: int | Decimal | None, currency: str, symbols: Mapping[str, str] = CURRENCY_SYMBOLS
) -> str:
    """A signed change: "+$1,234.56", "-12", "+0.23 pp"; no sign on zero."""
    if delta is None:
        return NO_VALUE
    sign = "+" if delta > 0 else ""
    if unit == "ratio":
        return f"{sign}{_round(Decimal(delta), CENT)} pp"
    return sign + format_value(unit, delta, currency, symbols)


def format_delta_pct(pct: Decimal | None) -> str:
    return NO_VALUE if pct is None else f"{'+' if pct > 0 else ''}{pct}%"


def product_names(products: list[Mapping[str, Any]]) -> list[str]:
    """Display names in order: "name (#id)" where two products share a name (ignoring case and
    surrounding spaces), the plain name elsewhere, so a reader can always tell the rows apart."""
    key = [str(p["name"]).strip().casefold() for p in products]
    shared = {k for k in key if key.count(k) > 1}
    return [
        f"{p['name']} (#{p['product_id']})" if k in shared else str(p["name"]) for p, k in zip(products, key)
    ]


def summary_lines(data: Mapping[str, Any]) -> list[str]:
    """One plain-text line per metric, for an email body: "Revenue: $12,345.67 (+$1,345.67, +12.2%)"."""
    currency, lines = data["currency"], []
    for metric in data.get("metrics", []):
        unit = metric["unit"]
        line = f"{metric['label']}: {format_value(unit, metric.get('value'), currency)}"
        delta, pct = deltas(metric)
        if delta is not None:
            change = format_delta(unit, delta, currency)
            line += f" ({change})" if pct is None else f" ({change}, {format_delta_pct(pct)})"
        lines.append(line)
    return lines


# -- JSON --


def with_deltas(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the data whose metrics also carry delta, delta_pct and delta_unit (JSON-ready).

    delta is an int for cents and counts and a decimal string in percentage points for ratios
    (delta_unit "pp"), so the JSON keeps the input's convention: integers for cents and counts,
    strings for decimals. delta_pct is a decimal string ("12.2") or null.
    """
    out = copy.deepcopy(dict(data))
    for metric in out.get("metrics", []):
        delta, pct = deltas(metric)
        metric["delta"] = _plain(delta) if isinstance(delta, Decimal) else delta
        metric["delta_pct"] = None if pct is None else _plain(pct)
        metric["delta_unit"] = "pp" if metric["unit"] == "ratio" else metric["unit"]
    return out


def render_json(data: Mapping[str, Any]) -> bytes:
    """The data plus deltas (see `with_deltas`); keys sorted, lists in input order, UTF-8, newline-ended."""
    text = json.dumps(with_deltas(data), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# -- CSV --


def _units(cents: int | Decimal | None) -> str:
    # scaleb, not / 100: exact, and keeps both places ("11000.00", not "11000")
    return "" if cents is None else _plain(Decimal(int(cents)).scaleb(-2))


def _percent(fraction: str | Decimal | None) -> str:
    return "" if fraction is None else _plain(Decimal(str(fraction)) * 100)


def _csv_rows(data: Mapping[str, Any]):
    period, previous_period = data["period"], data.get("previous_period") or {}
    currency = data["currency"]
    base = {"period_start": period["start"], "period_end": period["end"]}
    for key in ("kind", "title", "generated_at"):
        yield {**base, "section": "report", "metric": key, "unit": "text", "value": data.get(key, "")}
    for key in ("start", "end"):
        yield {
            **base,
            "section": "report",
            "metric": f"previous_period_{key}",
            "unit": "date",
            "value": previous_period.get(key, ""),
        }
    partial = data.get("partial") or {}
    for key in ("through", "previous_through"):  # empty: the period is complete
        yield {
            **base,
            "section": "report",
            "metric": f"partial_{key}",
            "unit": "datetime",
            "value": partial.get(key, ""),
        }
    for metric in data.get("metrics", []):
        unit, value, before = metric["unit"], metric.get("value"), metric.get("previous")
        delta, pct = deltas(metric)
        row = {
            **base,
            "section": "summary",
            "metric": metric["name"],
            "label": metric["label"],
            "delta_pct": "" if pct is None else _plain(pct),
        }
        if unit == "cents":
            row.update(
                unit="money",
                currency=currency,
                value=_units(value),
                previous=_units(before),
                delta=_units(delta),
            )
        elif unit == "ratio":
            row.update(
                unit="percent",
                value=_percent(value),
                previous=_percent(before),
                delta="" if delta is None else _plain(Decimal(delta)),  # (a ratio's delta is a Decimal)
            )
        else:
            row.update(unit="count", value=value, previous=before, delta=delta)
        yield row
    for day in data.get("daily", []):
        for name in ("revenue", "purchases", "page_views", "unique_visitors"):
            if name in day:
                money = name == "revenue"
                yield {
                    **base,
                    "section": "daily",
                    "date": day["date"],
                    "metric": name,
                    "unit": "money" if money else "count",
                    "currency": currency if money else "",
                    "value": _units(day[name]) if money else day[name],
                }
    for rank, product in enumerate(data.get("top_products", []), start=1):
        about = {  # product_id is on every row, so the name stays as stored
            **base,
            "section": "top_products",
            "rank": rank,
            "product_id": product["product_id"],
            "product": product["name"],
            "category": product.get("category", ""),
        }
        yield {**about, "metric": "units", "unit": "count", "value": product["units"]}
        yield {
            **about,
            "metric": "revenue",
            "unit": "money",
            "currency": currency,
            "value": _units(product["revenue"]),
        }


def render_csv(data: Mapping[str, Any]) -> bytes:
    """One long-format table with a single header row, UTF-8 without BOM, CRLF line ends (RFC 4180).

    CSV has no sections, so every row names its `section` (report, summary, daily, top_products) and
    repeats the period; a spreadsheet filters or pivots on those, and CSVs of several days can be
    concatenated and still make sense. Money is in currency units with exactly 2 decimals
    ("12345.67", unit "money", plus the currency column) so columns sum right; ratios are in percent
    (unit "percent", "3.125000") with delta in percentage points, so value - previous = delta holds
    on every summary row. delta_pct is the relative change in percent. Empty cell = no value.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(_csv_rows(data))
    return buffer.getvalue().encode("utf-8")


# -- dispatch --


def render_pdf(data: Mapping[str, Any]) -> bytes:
    """An A4 PDF: summary table, daily breakdown and charts (weekly), top products; see reports.pdf."""
    from jobctl.jobs.reports import pdf  # lazy: reportlab, only in the processes that draw PDFs

    return pdf.render_pdf(data)


def render(data: Mapping[str, Any], fmt: str) -> bytes:
    """The report as bytes in `fmt`: "json", "csv" or "pdf"."""
    renderers = {"json": render_json, "csv": render_csv, "pdf": render_pdf}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return renderers[fmt](data)
