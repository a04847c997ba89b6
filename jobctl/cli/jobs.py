"""jobctl job show"""

from __future__ import annotations

import json

import typer

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core.browse import job_detail

app = new_app("Inspect jobs.")


@app.command("show")
def show(ctx: typer.Context, job_id: str = typer.Argument(..., help="Job id."), as_json: bool = JsonOption) -> None:
    """Status, queue, priority, payload, attempts, timings, result or error."""
    st = state(ctx)
    job = job_detail(st.connection, st.settings, job_id)
    if as_json:
        emit_json(job)
        return
    width = max(len(k) for k in job)
    for key, value in job.items():
        if key in ("payload", "result", "attempts") and value is not None:
            value = json.dumps(value, default=str)
        if key == "error" and value:
            stdout.print(f"{key:<{width}}  ", highlight=False)
            stdout.out(value.rstrip(), highlight=False)
            continue
        stdout.print(f"{key:<{width}}  {value if value is not None else '-'}", highlight=False, markup=False)
