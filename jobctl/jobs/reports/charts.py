"""The report's charts as reportlab vector drawings (real text, so they are searchable and sharp).

Values are plotted as the integers they arrive as (cents, counts); only tick labels convert cents to
currency units, so no money passes through a float on its way to a figure a reader sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.lib import colors

BAR_COLOR = colors.HexColor("#2f6db5")
GRID_COLOR = colors.HexColor("#d9d9d9")
TITLE_SIZE = 11
LABEL_SIZE = 8
PRODUCT_NAME_CHARS = 32  # longer names are cut so the bars keep most of the width


def cents_tick(value: float) -> str:
    """Axis ticks in whole currency units ("1,700"); the currency is in the axis title."""
    return f"{value / 100:,.0f}"


def count_tick(value: float) -> str:
    return f"{value:,.0f}"


def _frame(width: float, height: float, title: str, bold: str) -> Drawing:
    drawing = Drawing(width, height)
    drawing.add(String(0, height - TITLE_SIZE, title, fontName=bold, fontSize=TITLE_SIZE))
    return drawing


def _value_axis(axis, values: Sequence[int], tick: Callable[[float], str], font: str, whole: bool) -> None:
    axis.valueMin = 0
    axis.rangeRound = "ceiling"  # the axis ends on a tick above the tallest bar, not at the bar
    axis.labels.fontName, axis.labels.fontSize = font, LABEL_SIZE
    axis.labelTextFormat = tick
    axis.visibleGrid, axis.gridStrokeColor = True, GRID_COLOR
    peak = max(values, default=0)
    if whole and peak < 10:
        axis.valueMax, axis.valueStep = max(peak, 1), 1  # counts: no "0.5 orders" ticks
    elif peak == 0:
        axis.valueMax = axis.valueStep = 100  # all zero: a 0..1 currency unit axis, not a zero-height one


def _note_if_empty(drawing: Drawing, chart, values: Sequence[int], font: str) -> None:
    if not any(values):
        drawing.add(
            String(
                chart.x + chart.width / 2,
                chart.y + chart.height / 2,
                "All zero in this period",
                fontName=font,
                fontSize=TITLE_SIZE,
                fillColor=colors.grey,
                textAnchor="middle",
            )
        )


def _axis_title(drawing: Drawing, text: str, x: float, y: float, font: str) -> None:
    """A y-axis title, rotated to run up the axis."""
    group = Group(String(0, 0, text, fontName=font, fontSize=LABEL_SIZE, textAnchor="middle"))
    group.transform = (0, 1, -1, 0, x, y)
    drawing.add(group)


def per_day_bars(
    title: str,
    days: Sequence[str],
    values: Sequence[int],
    axis_title: str,
    tick: Callable[[float], str],
    font: str,
    bold: str,
    width: float,
    height: float = 180,
    whole: bool = False,
) -> Drawing:
    """A vertical bar per day (days are short labels such as "Mon 23")."""
    drawing = _frame(width, height, title, bold)
    chart = VerticalBarChart()
    chart.x, chart.y = 58, 30
    # types-reportlab declares the size int; reportlab takes any number (the page is in points)
    chart.width, chart.height = width - chart.x - 10, height - chart.y - TITLE_SIZE - 16  # type: ignore[assignment]
    chart.data = [list(values)]
    chart.bars[0].fillColor, chart.bars[0].strokeColor = BAR_COLOR, None
    chart.categoryAxis.categoryNames = list(days)
    chart.categoryAxis.labels.fontName, chart.categoryAxis.labels.fontSize = font, LABEL_SIZE
    chart.categoryAxis.labels.dy = -2
    _value_axis(chart.valueAxis, values, tick, font, whole)
    drawing.add(chart)
    _note_if_empty(drawing, chart, values, font)
    _axis_title(drawing, axis_title, 10, chart.y + chart.height / 2, font)
    drawing.add(
        String(chart.x + chart.width / 2, 4, "Day", fontName=font, fontSize=LABEL_SIZE, textAnchor="middle")
    )
    return drawing


def _short(name: str) -> str:
    return name if len(name) <= PRODUCT_NAME_CHARS else name[: PRODUCT_NAME_CHARS - 1] + "…"


def top_products_bars(
    title: str,
    names: Sequence[str],
    revenues: Sequence[int],
    axis_title: str,
    font: str,
    bold: str,
    width: float,
) -> Drawing:
    """A horizontal bar per product, the best seller on top."""
    bar_pitch = 18
    label_width = 150
    height = TITLE_SIZE + 16 + bar_pitch * max(len(names), 1) + 36
    drawing = _frame(width, height, title, bold)
    chart = HorizontalBarChart()
    chart.x, chart.y = label_width, 30
    # types-reportlab declares the size int; reportlab takes any number (the page is in points)
    chart.width, chart.height = width - chart.x - 16, height - chart.y - TITLE_SIZE - 16  # type: ignore[assignment]
    chart.data = [list(reversed(revenues))]  # reportlab stacks the first category at the bottom
    chart.bars[0].fillColor, chart.bars[0].strokeColor = BAR_COLOR, None
    chart.categoryAxis.categoryNames = [_short(name) for name in reversed(names)]
    chart.categoryAxis.labels.fontName, chart.categoryAxis.labels.fontSize = font, LABEL_SIZE
    chart.categoryAxis.labels.dx = -4
    _value_axis(chart.valueAxis, revenues, cents_tick, font, whole=False)
    drawing.add(chart)
    drawing.add(
        String(
            chart.x + chart.width / 2, 4, axis_title, fontName=font, fontSize=LABEL_SIZE, textAnchor="middle"
        )
    )
    return drawing
