"""jobctl audit list"""

from __future__ import annotations

import typer

from jobctl.cli import completion
from jobctl.cli.common import DURATION, JsonOption, emit_json, new_app, state, stdout
from jobctl.core import audit

app = new_app("The audit log: every change made to jobs, queues, schedules, tokens and keys, by whom.")


@app.command("list")
def list_(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since", metavar=DURATION, help="Only entries newer than 15m, 1h30m, 7d or an ISO time."
    ),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor (OS user or token name)."),
    action: str | None = typer.Option(
        None, "--action", help="Only this action, e.g. enqueue, queue.clear, dlq.replay."
    ),
    face: str | None = typer.Option(None, "--face", help=f"Only this face: {', '.join(audit.FACES)}."),
    job_type: str | None = typer.Option(
        None,
        "--type",
        help="Only entries for this job type, e.g. --action enqueue --type email.",
        autocompletion=completion.JOB_TYPE,
    ),
    limit: int = typer.Option(100, "--limit", "-n", help="Show at most this many (newest first)."),
    as_json: bool = JsonOption,
) -> None:
    """Recorded changes, newest first: time, actor, face, action, target, filters, count, outcome."""
    st = state(ctx)
    entries = audit.list_entries(
        st.connection,
        since=audit.parse_since(since),
        actor=actor,
        action=action,
        face=face,
        job_type=job_type,
        limit=limit,
    )
    if as_json:
        emit_json({"entries": entries})
        return
    if not entries:
        filtered = since or actor or action or face or job_type
        stdout.print("no audit entries" + (" match" if filtered else ""), highlight=False)
        return
    # plain aligned lines, not a table: an error gets a line of its own under its entry instead of
    # being wrapped into a narrow column
    rows = [
        (
            e["time"][:19].replace("T", " "),
            e["actor"],
            e["face"],
            e["action"],
            _short(e["target"]),
            "-" if e["count"] is None else str(e["count"]),
            e["outcome"],
        )
        for e in entries
    ]
    header = ("time (UTC)", "actor", "face", "action", "target", "count", "outcome")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i == 5 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(header)]
    for row, e in zip(rows, entries):
        out.append(line(row))
        if e["error"]:
            out.append(f"{'':{widths[0]}}  ↳ {e['error']}")
    typer.echo("\n".join(out))


def _short(target: str, width: int = 24) -> str:
    return target if len(target) <= width else target[: width - 1] + "…"
