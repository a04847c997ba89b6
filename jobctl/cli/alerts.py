"""jobctl alerts list|test, jobctl monitor"""

from __future__ import annotations

import time

import typer
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core import alert_rules
from jobctl.errors import JobctlError, UsageError

app = new_app("Alert rules over queues and workers (evaluated by the active scheduler or `jobctl monitor`).")
CHANNELS = ("log", "email", "webhook")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Every rule: on/off, threshold, and per queue or worker whether it fires, since when, last fired."""
    st = state(ctx)
    rules = alert_rules.rule_states(st.connection, st.settings)
    if as_json:
        emit_json({"rules": rules})
        return
    table = Table("rule", "on", "threshold", "subject", "state", "last fired", box=None, pad_edge=False)
    for rule in rules:
        subjects = rule["subjects"] or [{"subject": "-", "firing": False, "last_fired": None}]
        for index, s in enumerate(subjects):
            head = (rule["rule"], "yes" if rule["enabled"] else "no", str(rule["threshold"])) if index == 0 \
                else ("", "", "")
            table.add_row(*head, s["subject"], "[red]FIRING[/red]" if s["firing"] else "ok",
                          (s.get("last_fired") or "-")[:19])
    stdout.print(table)


@app.command("test")
def test(ctx: typer.Context, channel: str = typer.Argument(..., help="log, email or webhook.")) -> None:
    """Send a test alert through one channel (email: to JOBCTL_ADMIN_EMAILS; webhook: JOBCTL_ALERT_WEBHOOK_URL)."""
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}", f"channels are: {', '.join(CHANNELS)}")
    st = state(ctx)
    st.install_runtime()
    if not alert_rules.test_channel(st.connection, st.settings, channel):
        setting = {"email": "JOBCTL_ADMIN_EMAILS", "webhook": "JOBCTL_ALERT_WEBHOOK_URL"}[channel]
        raise JobctlError(f"the test alert did not go out by {channel}",
                          f"check {setting} (and the worker log for the email queue)")
    stdout.print(f"test alert sent by {channel}" + (" (queued on email-sending)" if channel == "email" else ""))


def monitor(
    ctx: typer.Context,
    interval: float = typer.Option(15.0, "--interval", min=1.0, help="Seconds between evaluations."),
    once: bool = typer.Option(False, "--once", help="Evaluate once, print what changed, exit."),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the alert rules in a loop (where no scheduler runs, or as a second opinion)."""
    st = state(ctx)
    st.install_runtime()
    try:
        while True:
            changes = alert_rules.evaluate(st.connection, st.settings)
            if as_json:
                emit_json({"changes": changes}, compact=not once)
            else:
                for c in changes:
                    stdout.print(f"{c['event']:<8} {c['rule']:<15} {c['message']}", highlight=False)
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
