"""jobctl alerts list|history|test, jobctl monitor"""

from __future__ import annotations

import time

import typer
from rich.markup import escape
from rich.table import Table

from jobctl.cli.common import DURATION, JsonOption, emit_json, new_app, state, stderr, stdout
from jobctl.core import alert_rules, alerts
from jobctl.core.alert_evaluator import AlertEvaluator, evaluator_status
from jobctl.durations import format_seconds, parse_seconds
from jobctl.errors import JobctlError, UsageError

app = new_app(
    "Alert rules over queues and workers (evaluated by one of `scheduler start`, `workers start`, `monitor`)."
)
CHANNELS = ("log", "email", "webhook")


def _ago(seconds: float) -> str:
    return f"{format_seconds(round(seconds))} ago" if seconds >= 1 else "just now"


def _evaluation_line(evaluation: dict) -> str:
    """When the rules were last evaluated and by whom, or why they count as not evaluated."""
    if evaluation["evaluated_at"] is None:
        return (
            "not evaluated: no evaluator has run (start `jobctl workers start`, `jobctl scheduler start` "
            "or `jobctl monitor`)"
        )
    when = (
        f"{evaluation['evaluated_at']} ({_ago(evaluation['age_seconds'])}) by {evaluation['by']} "
        f"({evaluation['role']}, every {format_seconds(evaluation['interval_seconds'])})"
    )
    if evaluation["fresh"]:
        return f"last evaluated {when}"
    return (
        f"not evaluated: nothing evaluated the rules in the last "
        f"{format_seconds(evaluation['stale_after_seconds'])}; last evaluated {when}"
    )


STATE_SHOWN = {
    "firing": "[red]FIRING[/red]",
    "ok": "ok",
    "off": "off",
    "not-evaluated": "[yellow]not evaluated[/yellow]",
}


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Every rule: on/off, threshold, and per queue or worker whether it fires, since when, last fired;
    when the rules were last evaluated, and "not evaluated" (not "ok") when no evaluator ran recently."""
    st = state(ctx)
    data = alert_rules.overview(st.connection, st.settings)
    if as_json:
        emit_json(data)
        return
    stdout.print(_evaluation_line(data["evaluation"]), highlight=False, markup=False)
    table = Table("rule", "on", "threshold", "subject", "state", "last fired", box=None, pad_edge=False)
    for rule in data["rules"]:
        subjects = rule["subjects"] or [{"subject": "-", "state": rule["state"], "last_fired": None}]
        for index, s in enumerate(subjects):
            head = (
                (rule["rule"], "yes" if rule["enabled"] else "no", str(rule["threshold"]))
                if index == 0
                else ("", "", "")
            )
            shown = STATE_SHOWN["off"] if not rule["enabled"] else STATE_SHOWN[s["state"]]
            table.add_row(*head, s["subject"], shown, (s.get("last_fired") or "-")[:19])
    stdout.print(table)


@app.command("history")
def history(
    ctx: typer.Context,
    limit: int = typer.Option(
        50, "--limit", min=1, max=alerts.HISTORY_MAX_ENTRIES, help="At most this many transitions."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The alert rules' firing and resolving transitions, newest first (the last 1,000 are kept); a
    resolving says the value then and how long the rule fired (--json: fired_for_seconds)."""
    st = state(ctx)
    transitions = alerts.history(st.connection, limit)
    if as_json:
        emit_json({"transitions": transitions})
        return
    if not transitions:
        stdout.print("no alert has fired or resolved yet", highlight=False, markup=False)
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("when (UTC)", no_wrap=True)
    for name in ("event", "rule", "subject", "value"):
        table.add_column(name)
    table.add_column("message", overflow="fold")  # wrapped, never cut: it is the part that says what happened
    for t in transitions:
        event = t["event"] if t["notified"] else f"{t['event']} (quiet)"
        cells = (
            (t["at"] or "-")[:19].replace("T", " "),
            event,
            t["rule"],
            t["subject"],
            "-" if t["value"] is None else str(t["value"]),  # a resolving's value is the value then
            t["message"] or "",
        )
        table.add_row(*(escape(str(c)) for c in cells))  # subjects are queue and worker names, not markup
    stdout.print(table)


@app.command("test")
def test(ctx: typer.Context, channel: str = typer.Argument(..., help="log, email or webhook.")) -> None:
    """Send a test alert through one channel (to JOBCTL_ADMIN_EMAILS or JOBCTL_ALERT_WEBHOOK_URL)."""
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}", f"channels are: {', '.join(CHANNELS)}")
    st = state(ctx)
    st.install_runtime()
    if not alert_rules.test_channel(st.connection, st.settings, channel):
        setting = {"email": "JOBCTL_ADMIN_EMAILS", "webhook": "JOBCTL_ALERT_WEBHOOK_URL"}[channel]
        raise JobctlError(
            f"the test alert did not go out by {channel}",
            f"check {setting} (and the worker log for the email queue)",
        )
    stdout.print(
        f"test alert sent by {channel}" + (" (queued on email-sending)" if channel == "email" else "")
    )


def _summary(data: dict, evaluated_here: bool) -> str:
    """One line on what the rules say: "alerts: 5 rules evaluated, all ok (...)"."""
    evaluation = data["evaluation"]
    if not evaluation["fresh"]:
        return "alerts: " + _evaluation_line(evaluation)
    firing = sum(1 for r in data["rules"] for s in r["subjects"] if s["firing"])
    off = sum(1 for r in data["rules"] if not r["enabled"])
    rules = f"{evaluation['rules']} rules evaluated" + (f" ({off} off)" if off else "")
    who = "just now" if evaluated_here else _ago(evaluation["age_seconds"])
    return (
        f"alerts: {rules}, {'all ok' if not firing else f'{firing} firing'} "
        f"({who} by {evaluation['by']}, {evaluation['role']})"
    )


def _firing(data: dict) -> list[dict]:
    return [{"rule": r["rule"], **s} for r in data["rules"] for s in r["subjects"] if s["firing"]]


def monitor(
    ctx: typer.Context,
    interval_text: str = typer.Option(
        "15s", "--interval", metavar=DURATION, help="Time between evaluations, e.g. 15s or 1m; at least 1s."
    ),
    once: bool = typer.Option(
        False,
        "--once",
        help="Evaluate once, print what fires (or a summary line), exit: "
        "0 when the rules were evaluated, 1 when another evaluator "
        "holds the lease and has not evaluated them recently.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the alert rules in a loop (where no scheduler or `workers start` runs, or as a standby:
    one evaluator at a time among them all)."""
    interval = parse_seconds(interval_text, "--interval", minimum=1)
    st = state(ctx)
    st.install_runtime()
    evaluator = AlertEvaluator(st.settings, "monitor", interval)
    if once:
        _monitor_once(st, evaluator, as_json)
        return
    standing_by = False
    try:
        while True:
            changes = evaluator.step(st.connection)
            if not evaluator.holding and not standing_by:
                holder = evaluator_status(st.connection)["holder"]
                stderr.print(
                    f"standing by: {holder} evaluates the alert rules", highlight=False, markup=False
                )
            standing_by = not evaluator.holding
            if changes is not None:
                if as_json:
                    emit_json({"changes": changes}, compact=True)
                else:
                    for c in changes:  # one line per change, however long: a log that greps
                        stdout.print(
                            f"{c['event']:<8} {c['rule']:<15} {c['message']}",
                            highlight=False,
                            markup=False,
                            soft_wrap=True,
                        )
            time.sleep(1.0)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    finally:
        evaluator.release(st.connection)


def _monitor_once(st, evaluator: AlertEvaluator, as_json: bool) -> None:
    """Evaluate now if no other evaluator holds the lease; else report what the holder found."""
    try:
        changes = evaluator.step(st.connection, force=True)
    finally:
        evaluator.release(st.connection)
    data = alert_rules.overview(st.connection, st.settings)
    firing = _firing(data)
    if as_json:
        emit_json(
            {
                "evaluated": changes is not None,
                "changes": changes or [],
                "firing": firing,
                "evaluation": data["evaluation"],
            }
        )
    else:
        for c in changes or []:
            if c["event"] == "resolved":  # one line each, however long (the value now and for how long)
                line = f"{'resolved':<8} {c['rule']:<15} {c['message']}"
                stdout.print(line, highlight=False, markup=False, soft_wrap=True)
        for f in firing:
            line = f"{'FIRING':<8} {f['rule']:<15} {f['message']}"
            stdout.print(line, highlight=False, markup=False, soft_wrap=True)
        stdout.print(_summary(data, changes is not None), highlight=False, markup=False)
    if not data["evaluation"]["fresh"]:
        raise typer.Exit(1)
