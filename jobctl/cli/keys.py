"""jobctl keys generate|rotate"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli.common import JsonOption, confirm, emit_json, new_app, state, stdout
from jobctl.cli.progress import progress_bar
from jobctl.core import payloads
from jobctl.core.rotation import KINDS, rotate
from jobctl.errors import ExitCode, UsageError

app = new_app("Encryption keys for job data at rest (JOBCTL_ENCRYPTION_KEYS).")

LABELS = {
    "jobs": "jobs",
    "results": "job results",
    "dead_letters": "dead letters",
    "schedules": "schedules",
    "alerts": "pending alerts",
}
COLUMNS = (
    ("reencrypted", "re-encrypted"),
    ("encrypted", "was plain"),
    ("current", "already current"),
    ("skipped", "skipped"),
    ("failed", "failed"),
)


@app.command("generate")
def generate(as_json: bool = JsonOption) -> None:
    """Print a new Fernet key. Put it first in JOBCTL_ENCRYPTION_KEYS (NEW,OLD,...), then `keys rotate`."""
    key = payloads.generate_key()
    if as_json:
        emit_json({"key": key})
    else:
        typer.echo(key)


@app.command("rotate")
def rotate_(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would change; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Re-encrypt stored jobs, results, dead letters and schedules under the first key (plaintext ones
    get encrypted); prints counts. Safe while workers run."""
    st = state(ctx)
    if not st.settings.encryption_keys:  # before asking anything
        raise UsageError(
            f"{payloads.SETTING} is not set: there is no key to rotate to",
            f"set {payloads.SETTING}=NEW,OLD (make NEW with `jobctl keys generate`), then rotate",
        )
    if not dry_run:
        confirm("Re-encrypt all stored job data under the first key of JOBCTL_ENCRYPTION_KEYS?", yes, as_json)
    connection = st.connection
    with progress_bar(as_json=as_json, stage="checking" if dry_run else "re-encrypting", unit="items") as bar:
        result = rotate(connection, st.settings, dry_run=dry_run, on_progress=bar.update)
    failed = result["totals"]["failed"]
    if as_json:
        emit_json(result)
    else:
        _print(result)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _print(result: dict) -> None:
    table = Table("", *(label for _, label in COLUMNS), box=None, pad_edge=False)
    for i in range(1, len(COLUMNS) + 1):
        table.columns[i].justify = "right"
    for kind in KINDS:
        counts = result["counts"][kind]
        table.add_row(LABELS[kind], *(f"{counts[name]:,}" for name, _ in COLUMNS))
    table.add_row("total", *(f"{result['totals'][name]:,}" for name, _ in COLUMNS), style="bold")
    stdout.print(table)
    for problem in result["problems"]:
        stdout.print(
            f"{problem['status']}: {LABELS[problem['kind']]} {problem['key']}: {problem['reason']}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    totals = result["totals"]
    if result["dry_run"]:
        stdout.print(
            f"dry run: {totals['reencrypted'] + totals['encrypted']:,} item(s) would be re-encrypted; "
            "nothing changed",
            highlight=False,
            soft_wrap=True,
        )
    elif totals["failed"]:
        stdout.print(
            f"{totals['failed']:,} item(s) could not be re-encrypted: keep the old key(s) in "
            f"{payloads.SETTING} until they are",
            highlight=False,
            soft_wrap=True,
        )
    else:
        stdout.print(
            f"done: everything stored is under the first key of {payloads.SETTING}; "
            "the older keys can be dropped from it now",
            highlight=False,
            soft_wrap=True,
        )
