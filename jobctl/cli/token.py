"""jobctl token create|list|revoke"""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.common import JsonOption, confirm, emit_json, new_app, state, stdout
from jobctl.core import tokens

app = new_app("Bearer tokens for the HTTP API (jobctl serve): viewer, operator or admin.")

NameArgument = typer.Argument(
    ..., help="Token name, e.g. grafana or ci-deploy.", autocompletion=completion.TOKEN
)
NewNameArgument = typer.Argument(..., help="Token name, e.g. grafana or ci-deploy.")  # create: a new one


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = NewNameArgument,
    role: str = typer.Option(..., "--role", "-r", help=f"One of {', '.join(tokens.ROLES)}."),
    as_json: bool = JsonOption,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored: copy it now)."""
    st = state(ctx)
    created = tokens.create_token(st.connection, st.settings, name, role)
    if as_json:
        emit_json(created)
        return
    # the secret alone on stdout, so TOKEN=$(jobctl token create ...) captures just it
    sys.stderr.write(f"created token {name} ({role}); it is shown only this once:\n")
    typer.echo(created["token"])


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Every token's name, role, creation time and creator (never the secret)."""
    rows = tokens.list_tokens(state(ctx).connection)
    if as_json:
        emit_json({"tokens": rows})
        return
    if not rows:
        stdout.print("no tokens (jobctl token create NAME --role viewer|operator|admin)")
        return
    table = Table("name", "role", "created (UTC)", "by", box=None)
    for r in rows:
        created = (r["created_at"] or "")[:19].replace("T", " ")
        table.add_row(r["name"], r["role"], created, r["created_by"] or "-")
    stdout.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: str = NameArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a token: every `jobctl serve` refuses it from the next request on."""
    st = state(ctx)
    tokens.get_token(st.connection, name)  # NotFound before asking
    confirm(f"Revoke token {name}?", yes, as_json)
    doc = tokens.revoke_token(st.connection, st.settings, name)
    if as_json:
        emit_json({"revoked": name, "token": doc})
        return
    stdout.print(f"revoked {name}", highlight=False, markup=False)
