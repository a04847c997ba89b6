"""Daily and weekly marketplace reports: a report-data dict in, JSON, CSV or PDF bytes out.

The numbers are computed elsewhere (from the database); this package only presents them, and
computes the changes against the previous period so every format shows the same ones. The data:

    kind            "daily" | "weekly"
    title           free text, already composed
    period          {"start", "end"}: inclusive ISO dates (weekly: Monday..Sunday)
    previous_period the same for the period compared with, or None (the first one)
    partial         None for a complete period; else {"through", "previous_through"}: naive UTC ISO
                    timestamps where the figures of this period and of the previous one stop (the
                    same offset into each, so the comparison is like for like)
    generated_at    ISO timestamp
    currency        ISO code ("USD")
    metrics         in display order: {"name", "label", "unit", "value", "previous"}; unit is "cents"
                    (int), "count" (int) or "ratio" (a decimal string, a fraction); previous may be None
    daily           one row per day: {"date", "revenue" (cents), "purchases", "page_views",
                    "unique_visitors"}
    top_products    up to 10, by revenue: {"product_id", "name", "category", "units", "revenue" (cents)};
                    names may repeat, so displays add the id where they do (render.product_names)

reportlab is imported only when a PDF is rendered.
"""

from jobctl.jobs.reports.render import deltas, render, render_csv, render_json, render_pdf, summary_lines

__all__ = ["deltas", "render", "render_csv", "render_json", "render_pdf", "summary_lines"]
