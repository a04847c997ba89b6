"""jobctl email templates|preview"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.common import (
    JsonOption,
    emit_json,
    new_app,
    parse_json_object,
    parse_key_values,
    state,
    stdout,
)

app = new_app("Email templates.")


@app.command("templates")
def templates(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Available templates with the variables each one needs."""
    # lazy: the email job's modules (Jinja2), ~80 ms of start-up for every other command
    from jobctl.jobs.email import list_templates

    rows = list_templates(state(ctx).settings)
    if as_json:
        emit_json({"templates": rows})
        return
    table = Table("template", "variables", "source", box=None)
    for r in rows:
        table.add_row(r["name"], ", ".join(r["variables"]) or "-", r["source"])
    stdout.print(table)


@app.command("preview")
def preview(
    ctx: typer.Context,
    template: str = typer.Option(
        ..., "--template", "-t", help="Template name.", autocompletion=completion.TEMPLATE
    ),
    data: list[str] = typer.Option([], "--data", "-d", help="Template variable KEY=VALUE (repeatable)."),
    data_json: str | None = typer.Option(None, "--data-json", help="Template variables as a JSON object."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text part."),
    as_json: bool = JsonOption,
) -> None:
    """Render a template without sending anything."""
    # lazy: the email job's modules (Jinja2), ~80 ms of start-up for every other command
    from jobctl.jobs.email import render_email

    values = {**parse_json_object(data_json), **parse_key_values(data)}
    rendered = render_email(state(ctx).settings, template, values)
    if as_json:
        emit_json(
            {"template": template, "subject": rendered.subject, "text": rendered.text, "html": rendered.html}
        )
        return
    typer.echo(f"Subject: {rendered.subject}\n")
    typer.echo(rendered.html if html else rendered.text)
