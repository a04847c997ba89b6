"""Referral statistics from the ledger, checked against figures worked out by hand; the CLI command."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import typer
from typer.testing import CliRunner

from jobctl.cli import referrals
from jobctl.cli.common import new_app, state
from jobctl.data import engine_for, schema
from jobctl.errors import NotFound, UsageError
from jobctl.jobs.referrals.commissions import settle
from jobctl.jobs.referrals.stats import referral_stats
from tests.jobs.referrals import add_order, add_user, chain_store, set_status

RATES = (1000, 300)
NOW = datetime(2026, 11, 29, 9, 30)


@pytest.fixture
def engine(db_settings):
    return engine_for(db_settings)


@pytest.fixture
def store(engine):
    """A <- B <- C <- D, and A <- E. Commissions at 10 % / 3 %:

    order 1  D pays 123.45   C L1 12.35, B L2 3.70
    order 2  D pays 100.00   C L1 10.00, B L2 3.00
    order 3  C pays  50.00   B L1  5.00, A L2 1.50
    order 4  E refunded 20.00 before its job ran: A L1 2.00, recorded reversed
    order 5  B pending, order 6 E failed: nothing
    """
    ids = chain_store(engine)
    with engine.begin() as conn:
        ids["E"] = add_user(conn, 5, "Eva", ids["A"])
        orders = [
            add_order(conn, ids["D"], 12345),
            add_order(conn, ids["D"], 10000),
            add_order(conn, ids["C"], 5000),
            add_order(conn, ids["E"], 2000, "refunded"),
            add_order(conn, ids["B"], 700, "pending"),
            add_order(conn, ids["E"], 900, "failed"),
        ]
    for order in orders:
        settle(engine, order, RATES, NOW)
    ids["orders"] = orders
    return ids


def stats(engine, **kwargs):
    with engine.connect() as conn:
        return referral_stats(conn, **kwargs)


def money(row) -> tuple[int, int, int]:
    return row["commission_earned_cents"], row["commission_reversed_cents"], row["commission_net_cents"]


def level(n: int, rows: int, earned: int, reversed_: int = 0) -> dict:
    return {
        "level": n,
        "commissions": rows,
        "earned_cents": earned,
        "reversed_cents": reversed_,
        "net_cents": earned - reversed_,
    }


def test_stats_per_referrer_by_net_commission(engine, store):
    rows = stats(engine)
    assert [r["referrer_id"] for r in rows] == [store["C"], store["B"], store["A"]]  # D referred nobody
    c, b, a = rows
    assert (c["name"], c["email"]) == ("Cid", "cid@example.com")
    assert {
        k: c[k]
        for k in (
            "referred_users",
            "orders",
            "orders_refunded",
            "commission_earned_cents",
            "commission_reversed_cents",
            "commission_net_cents",
        )
    } == {
        "referred_users": 1,
        "orders": 2,
        "orders_refunded": 0,
        "commission_earned_cents": 2235,
        "commission_reversed_cents": 0,
        "commission_net_cents": 2235,
    }
    assert c["levels"] == [level(1, 2, 2235)]
    assert (b["referred_users"], b["orders"], b["commission_net_cents"]) == (1, 1, 1170)
    assert b["levels"] == [level(1, 1, 500), level(2, 2, 670)]
    # A referred B and E; B's order is pending, E's refunded; A's L2 is C's order
    assert (a["referred_users"], a["orders"], a["orders_refunded"]) == (2, 0, 1)
    assert money(a) == (350, 200, 150)
    assert a["levels"] == [level(1, 1, 200, 200), level(2, 1, 150)]


def test_a_refund_moves_the_figures_with_the_ledger(engine, store):
    set_status(engine, store["orders"][0], "refunded")
    settle(engine, store["orders"][0], RATES, NOW)
    rows = {r["referrer_id"]: r for r in stats(engine)}
    assert (rows[store["C"]]["orders"], rows[store["C"]]["orders_refunded"]) == (1, 1)
    assert money(rows[store["C"]]) == (2235, 1235, 1000)
    assert rows[store["B"]]["commission_net_cents"] == 800


def test_limit_and_one_referrer(engine, store):
    assert [r["referrer_id"] for r in stats(engine, limit=2)] == [store["C"], store["B"]]
    [b] = stats(engine, referrer_id=store["B"])
    assert b["commission_net_cents"] == 1170 and len(b["levels"]) == 2
    [d] = stats(engine, referrer_id=store["D"])  # a user who referred nobody: all zeros, not an error
    assert (d["referred_users"], d["commission_net_cents"], d["levels"]) == (0, 0, [])
    with pytest.raises(NotFound, match="no user 999"):
        stats(engine, referrer_id=999)
    for bad in ({"limit": 0}, {"limit": 1001}, {"referrer_id": 0}):
        with pytest.raises(UsageError):
            stats(engine, **bad)


def test_empty_store_has_no_referrers(engine):
    assert stats(engine) == []


def test_a_referrals_row_counts_when_referred_by_is_empty(engine, store):
    """Payouts and statistics read "who referred whom" the same way, so they agree."""
    with engine.begin() as conn:
        add_user(conn, 6, "Fay")
        conn.execute(schema.referrals.insert().values(referrer_id=store["D"], referred_id=6, created_at=NOW))
        order = add_order(conn, 6, 1000)
    settle(engine, order, RATES, NOW)
    [d] = stats(engine, referrer_id=store["D"])
    assert (d["referred_users"], d["orders"], d["commission_net_cents"]) == (1, 1, 100)


# -- the command


def cli_app() -> typer.Typer:
    """The sub-app mounted as jobctl's app.py will mount it, under a root like jobctl's."""
    root = new_app("test root")

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        state(ctx)

    root.add_typer(referrals.app, name="referrals")
    return root


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli_app(), ["referrals", "stats", *args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_cli_json_is_the_stats_in_cents(engine, store):
    out = json.loads(invoke("--json").stdout)
    assert out == {"referrers": stats(engine)}
    [b] = json.loads(invoke("--referrer", str(store["B"]), "--json").stdout)["referrers"]
    assert b["commission_net_cents"] == 1170


def test_cli_table_shows_money_in_dollars(engine, store):
    text = invoke("--limit", "2").stdout
    header, c_row, b_row = text.splitlines()
    assert header.split() == ["id", "referred", "orders", "net", "reversed", "L1", "L2", "name"]
    assert c_row.split() == ["3", "1", "2", "$22.35", "$0.00", "$22.35", "$0.00", "Cid"]
    assert b_row.split() == ["2", "1", "1", "$11.70", "$0.00", "$5.00", "$6.70", "Bob"]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Ann" not in text  # third by net commission


def test_cli_prints_names_as_typed(engine, store):
    with engine.begin() as conn:
        conn.execute(
            schema.users.update().where(schema.users.c.id == store["A"]).values(name="Ann [bold]x[/bold]")
        )
    assert "Ann [bold]x[/bold]" in invoke().stdout


def test_cli_unknown_referrer_exits_4(engine, store):
    result = invoke("--referrer", "999", code=4)
    assert result.stderr.splitlines()[0] == "jobctl: error: no user 999 in the store"
    assert result.stdout == ""
    error = json.loads(invoke("--referrer", "999", "--json", code=4).stdout)["error"]
    assert (error["code"], error["message"]) == ("not_found", "no user 999 in the store")


def test_cli_bad_options_exit_2(engine):
    assert invoke("--limit", "0", code=2).stdout == ""
    invoke("--referrer", "abc", code=2)


def test_cli_empty_store(engine):
    assert "no referrers yet" in invoke().stdout
