"""Report rendering: deltas, JSON, CSV and PDF from the sample report data."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from pypdf import PdfReader

from jobctl.jobs.reports import deltas, render, render_csv, render_json, render_pdf, summary_lines
from jobctl.jobs.reports.render import (
    format_delta,
    format_delta_pct,
    format_money,
    format_ratio,
    product_names,
)
from tests.jobs.reports.sample import daily_report_data, empty_report_data, weekly_report_data

LABELS = [
    "Revenue",
    "Orders",
    "Page views",
    "Unique visitors",
    "Conversion rate",
    "Average order value",
    "New users",
    "Refunds",
    "Failed payments",
]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def metric(data: dict, name: str) -> dict:
    return next(m for m in data["metrics"] if m["name"] == name)


# -- deltas and display strings --


def test_deltas_per_unit():
    assert deltas({"unit": "cents", "value": 1234567, "previous": 1100000}) == (134567, Decimal("12.2"))
    assert deltas({"unit": "count", "value": 4, "previous": 7}) == (-3, Decimal("-42.9"))
    # ratios: the change is in percentage points, the % is relative
    assert deltas({"unit": "ratio", "value": "0.031250", "previous": "0.029000"}) == (
        Decimal("0.2250"),
        Decimal("7.8"),
    )


def test_deltas_without_a_base():
    assert deltas({"unit": "count", "value": 9, "previous": 0}) == (9, None)
    assert deltas({"unit": "cents", "value": 0, "previous": None}) == (None, None)
    assert deltas({"unit": "ratio", "value": "0.000000", "previous": "0.000000"}) == (Decimal("0.0000"), None)


def test_deltas_round_half_up():
    # -49.95 rounds away from zero, 0.05 up (banker's rounding would give -50.0 and 0.0)
    assert deltas({"unit": "count", "value": 1001, "previous": 2000})[1] == Decimal("-50.0")
    assert deltas({"unit": "count", "value": 2001, "previous": 2000})[1] == Decimal("0.1")  # 0.05 -> 0.1


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unknown unit"):
        deltas({"name": "x", "unit": "seconds", "value": 1, "previous": 1})


def test_display_strings():
    assert format_money(1234567, "USD") == "$12,345.67"
    assert format_money(-500, "EUR") == "-€5.00"
    assert format_money(123456789, "GBP") == "£1,234,567.89"
    assert format_money(1200, "CHF") == "12.00 CHF"
    assert format_ratio("0.031250") == "3.13%"  # 3.125 rounds half-up
    assert format_delta("ratio", Decimal("0.2250"), "USD") == "+0.23 pp"
    assert format_delta("cents", 0, "USD") == "$0.00"
    assert format_delta_pct(Decimal("-3.0")) == "-3.0%"
    assert format_delta_pct(None) == "–"


def test_summary_lines_for_an_email_body():
    lines = summary_lines(daily_report_data())
    assert len(lines) == len(LABELS)
    assert lines[0] == "Revenue: $12,345.67 (+$1,345.67, +12.2%)"
    assert "Conversion rate: 3.13% (+0.23 pp, +7.8%)" in lines
    assert "Failed payments: 9 (+9)" in lines  # from 0: no percentage
    assert summary_lines(empty_report_data())[0] == "Revenue: $0.00"


# -- JSON --


def test_json_round_trips_with_deltas():
    data = daily_report_data()
    out = json.loads(render_json(data))
    for key in (
        "kind",
        "title",
        "period",
        "previous_period",
        "generated_at",
        "currency",
        "daily",
        "top_products",
    ):
        assert out[key] == data[key]
    for original, rendered in zip(data["metrics"], out["metrics"], strict=True):
        assert {k: rendered[k] for k in original} == original
    revenue, conversion, failed = (metric(out, n) for n in ("revenue", "conversion_rate", "failed_payments"))
    assert (revenue["delta"], revenue["delta_pct"], revenue["delta_unit"]) == (134567, "12.2", "cents")
    assert (conversion["delta"], conversion["delta_pct"], conversion["delta_unit"]) == ("0.2250", "7.8", "pp")
    assert (failed["delta"], failed["delta_pct"]) == (9, None)


def test_json_is_stable_utf8_and_leaves_the_input_alone():
    data = weekly_report_data()
    before = json.dumps(data, sort_keys=True)
    first = render_json(data)
    assert first == render_json(weekly_report_data())
    assert first.endswith(b"\n")
    assert "Café crème".encode() in first  # not \u00e9 escapes
    assert json.dumps(data, sort_keys=True) == before


# -- CSV --


def test_csv_summary_matches_the_input():
    data = daily_report_data()
    rows = csv_rows(render_csv(data))
    assert list(rows[0]) == [
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
    ]
    summary = {row["metric"]: row for row in rows if row["section"] == "summary"}
    assert [row["label"] for row in summary.values()] == LABELS
    revenue = summary["revenue"]
    assert (revenue["unit"], revenue["currency"]) == ("money", "USD")
    assert (revenue["value"], revenue["previous"], revenue["delta"], revenue["delta_pct"]) == (
        "12345.67",
        "11000.00",
        "1345.67",
        "12.2",
    )
    assert (summary["purchases"]["value"], summary["purchases"]["delta"]) == ("312", "22")
    conversion = summary["conversion_rate"]
    assert conversion["unit"] == "percent"
    assert Decimal(conversion["value"]) - Decimal(conversion["previous"]) == Decimal(conversion["delta"])
    assert summary["failed_payments"]["delta_pct"] == ""
    assert all(row["period_start"] == "2026-11-28" for row in rows)


def test_csv_money_is_in_units_with_two_decimals_and_sums():
    data = weekly_report_data()
    rows = csv_rows(render_csv(data))
    money = [row for row in rows if row["unit"] == "money"]
    assert money and all(r["currency"] == "USD" and re.fullmatch(r"-?\d+\.\d\d", r["value"]) for r in money)
    daily_revenue = [Decimal(r["value"]) for r in rows if (r["section"], r["metric"]) == ("daily", "revenue")]
    assert len(daily_revenue) == 7
    assert sum(daily_revenue) * 100 == metric(data, "revenue")["value"]
    products = [r for r in rows if r["section"] == "top_products" and r["metric"] == "revenue"]
    assert [(r["rank"], r["product"], Decimal(r["value"]) * 100) for r in products] == [
        (str(rank), p["name"], p["revenue"]) for rank, p in enumerate(data["top_products"], 1)
    ]


# -- PDF --


def test_weekly_pdf_shows_figures_charts_and_products():
    data = weekly_report_data()
    text = pdf_text(render_pdf(data))
    assert data["title"] in text
    for label in LABELS:
        assert label in text
    assert "$13,424.35" in text  # revenue
    assert "+$1,545.15" in text and "+13.0%" in text  # its change
    assert "+0.04 pp" in text  # conversion rate, in percentage points
    for title in ("Revenue per day", "Orders per day", "Top products by revenue", "Revenue (USD)"):
        assert title in text
    for day in ("Mon 16 Nov 2026", "Sun 22 Nov 2026", "Sat 21"):
        assert day in text
    for product in data["top_products"]:
        assert product["name"] in text


def test_daily_pdf_has_top_products_but_no_day_charts():
    data = daily_report_data()
    text = pdf_text(render_pdf(data))
    assert "$12,345.67" in text and "+$1,345.67" in text and "+12.2%" in text
    assert "3.13%" in text and "+0.23 pp" in text
    assert "Top products by revenue" in text and "Linen tote" in text
    assert "Revenue per day" not in text


def test_pdf_is_byte_identical_for_the_same_data():
    assert render_pdf(weekly_report_data()) == render_pdf(weekly_report_data())


@pytest.mark.parametrize("kind", ["daily", "weekly"])
def test_empty_report_renders_in_every_format(kind):
    data = empty_report_data(kind)
    out = json.loads(render_json(data))
    assert all(m["delta"] is None and m["delta_pct"] is None for m in out["metrics"])
    rows = csv_rows(render_csv(data))
    assert not [row for row in rows if row["section"] == "top_products"]
    assert {r["value"] for r in rows if (r["section"], r["unit"]) == ("summary", "money")} == {"0.00"}
    text = pdf_text(render_pdf(data))
    assert "No orders in this period" in text
    assert "No previous period to compare with" in text
    assert "$0.00" in text


def test_unicode_product_names(monkeypatch):
    from jobctl.jobs.reports import pdf

    data = daily_report_data()
    data["top_products"][0]["name"] = "Café crème ☕"
    data["currency"] = "RUB"
    # DejaVu Sans where installed (it draws both) ...
    if pdf.fonts().regular == "DejaVuSans":
        text = pdf_text(render_pdf(data))
        assert "Café crème ☕" in text and "₽12,345.67" in text
    # ... and without it, Helvetica: what it cannot draw becomes "?", the ruble its code
    monkeypatch.setattr(pdf, "FONT_DIRS", ("/nonexistent",))
    pdf.fonts.cache_clear()
    try:
        text = pdf_text(render_pdf(data))
    finally:
        pdf.fonts.cache_clear()
    assert "Café crème ?" in text and "12,345.67 RUB" in text


def test_long_product_names_are_cut_in_the_chart_not_the_table():
    data = daily_report_data()
    data["top_products"][0]["name"] = "Extra large hand-woven seagrass storage basket with handles"
    text = " ".join(pdf_text(render_pdf(data)).split())  # the table wraps the name over two lines
    assert "Extra large hand-woven seagrass…" in text
    assert "Extra large hand-woven seagrass storage basket with handles" in text


def test_products_sharing_a_name_carry_their_id():
    data = weekly_report_data()
    data["top_products"][3]["name"] = "linen tote "  # same as #17 "Linen tote" to a reader
    names = product_names(data["top_products"])
    assert names[0] == "Linen tote (#17)" and names[3] == "linen tote  (#103)"
    assert names[1] == "Walnut serving board"  # unique names stay plain
    text = " ".join(pdf_text(render_pdf(data)).split())
    assert "Linen tote (#17)" in text and "linen tote (#103)" in text
    assert [p["product_id"] for p in json.loads(render_json(data))["top_products"]] == [
        p["product_id"] for p in data["top_products"]
    ]


def test_partial_period_is_labelled_in_every_format():
    data = weekly_report_data()
    data["title"] += " (partial: through 18 November 2026, 14:05 UTC)"
    data["partial"] = {"through": "2026-11-18T14:05:00", "previous_through": "2026-11-11T14:05:00"}
    assert json.loads(render_json(data))["partial"] == data["partial"]
    rows = {r["metric"]: r["value"] for r in csv_rows(render_csv(data)) if r["section"] == "report"}
    assert rows["title"].endswith("(partial: through 18 November 2026, 14:05 UTC)")
    assert (rows["partial_through"], rows["partial_previous_through"]) == (
        "2026-11-18T14:05:00",
        "2026-11-11T14:05:00",
    )
    text = " ".join(pdf_text(render_pdf(data)).split())
    assert "partial: through 18 November 2026, 14:05 UTC" in text
    assert "figures through Wed 18 Nov 2026, 14:05 UTC, compared with the same span" in text
    assert "(through Wed 11 Nov 2026, 14:05 UTC)" in text


def test_complete_period_has_empty_partial_fields_in_csv():
    rows = {r["metric"]: r["value"] for r in csv_rows(render_csv(weekly_report_data()))}
    assert rows["partial_through"] == rows["partial_previous_through"] == ""


def test_top_products_table_is_never_split_to_leave_a_lone_row():
    # this data (seven names that wrap in the table, after the day charts) used to push row 10 alone
    # onto the next page; now the table moves whole
    data = weekly_report_data()
    for rank, product in enumerate(data["top_products"], 1):
        product["category"] = f"cat-{rank:02d}"  # a marker that only the table draws
        if rank <= 7:
            product["name"] += " extended edition with a name long enough to wrap in the table"
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(data))).pages]
    rows_on = {i for i, text in enumerate(pages) for rank in range(1, 11) if f"cat-{rank:02d}" in text}
    assert len(rows_on) == 1
    [page] = rows_on
    assert pages[page].index("Category") < pages[page].index("cat-01")  # its header row came along


# -- dispatch and imports --


def test_render_dispatches_by_format():
    data = daily_report_data()
    assert render(data, "json") == render_json(data)
    assert render(data, "csv") == render_csv(data)
    assert render(data, "pdf").startswith(b"%PDF-")
    with pytest.raises(ValueError, match="unknown report format 'xlsx'"):
        render(data, "xlsx")


def test_reportlab_is_imported_only_for_a_pdf():
    # the UI-framework half of this rule is the import-linter contract (tests/test_import_contracts.py)
    code = (
        "import sys, jobctl.jobs.reports; print('reportlab' in sys.modules); "
        "import jobctl.jobs.reports.pdf; print('reportlab' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
