"""jobctl referrals stats"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout

app = new_app("Referral commissions: per-referrer statistics from the commission ledger.")

CURRENCY = "USD"  # the marketplace's orders are in dollars (the reports assume the same)


@app.command("stats")
def stats(
    ctx: typer.Context,
    referrer: int | None = typer.Option(None, "--referrer", min=1, help="Only this referrer (a user id)."),
    limit: int = typer.Option(
        50, "--limit", min=1, max=1000, help="At most this many, highest net commission first."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Per referrer: users referred directly, their paid orders, net and reversed commission, net by
    level (L1, L2, ...). --json adds emails, refunded orders and earned amounts, all money in cents."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command; render ~6 ms more
    from jobctl.jobs.referrals.stats import load_referral_stats
    from jobctl.jobs.reports.render import format_money

    rows = load_referral_stats(state(ctx).settings, referrer, limit)
    if as_json:
        emit_json({"referrers": rows})
        return
    if not rows:
        stdout.print("no referrers yet (nobody has referred anyone)")
        return
    # the email, refunded orders and earned (= net + reversed) are in --json, so this fits 80 columns
    levels = sorted({lv["level"] for r in rows for lv in r["levels"]})
    cells = []
    for r in rows:
        by_level = {lv["level"]: lv["net_cents"] for lv in r["levels"]}
        cells.append(
            [
                str(r["referrer_id"]),
                f"{r['referred_users']:,}",
                f"{r['orders']:,}",
                format_money(r["commission_net_cents"], CURRENCY),
                format_money(r["commission_reversed_cents"], CURRENCY),
                *(format_money(by_level.get(n, 0), CURRENCY) for n in levels),
            ]
        )
    headers = ["id", "referred", "orders", "net", "reversed", *(f"L{n}" for n in levels)]
    table = Table(box=None, pad_edge=False)
    for i, header in enumerate(headers):
        # figures are never cut short: only the name gives way on a narrow terminal
        table.add_column(
            header, justify="right", no_wrap=True, min_width=max(len(header), *(len(row[i]) for row in cells))
        )
    table.add_column("name", no_wrap=True, overflow="ellipsis")
    for r, row in zip(rows, cells):
        table.add_row(*row, escape(r["name"]))  # user input: escaped so [brackets] print as typed
    stdout.print(table)
