"""Readable help: every value an option or argument takes is named for what it is (QUEUE, N, PATH),
never by its Python type (typer's own help says `<str>`, `<list[str]>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from typer.core import TyperArgument, TyperCommand

from jobctl.cli.coercion import take_plain_values
from jobctl.cli.examples import EXAMPLES, command_key, write_examples

# metavars by the parameter's Python name, where the name alone would not say what to type
_BY_NAME = {
    "data": "KEY=VALUE",
    "option": "NAME=VALUE",
    "data_json": "JSON",
    "options_json": "JSON",
    "error_contains": "TEXT",
    "recipients": "CSV",
    "from_": "DATE",
    "to": "DATE",
    "start": "DATE",
    "at": "TIME",
    "job_state": "STATE",
    "log_format": "FORMAT",
}


class _NamedArgument(TyperArgument):
    """An argument whose metavar says what it is: help shows `JOB_ID`, not `JOB_ID <str>`."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def readable_metavar(param: Any) -> str | None:
    """QUEUE for --queue, N for a number, PATH for a path; None for a choice (help lists the choices)."""
    desc = param.type_descriptor
    if desc.is_choice:
        return None
    annotation = desc.annotation
    if desc.is_list:  # repeatable: the metavar names one occurrence
        (annotation,) = get_args(annotation) or (str,)
    if param.name in _BY_NAME:
        return _BY_NAME[param.name]
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    if desc.is_path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return "PATH"
    name = param.name.rstrip("_").upper()  # from_ -> FROM
    return name[:-1] if desc.is_list and name.endswith("S") else name


def name_values(params: list[Any]) -> None:
    """Give every parameter that takes a value and has no metavar a readable one."""
    for param in params:
        if getattr(param, "is_flag", False) or not hasattr(param, "type_descriptor"):
            continue
        if param.metavar is None:
            param.metavar = readable_metavar(param)
        if isinstance(param, TyperArgument) and param.metavar is not None:
            param.__class__ = _NamedArgument  # same state; only its help line changes


class JobctlCommand(TyperCommand):
    """Every jobctl command: its values have readable metavars, and its help ends with its examples."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_values(self.params)
        take_plain_values(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # made on first use, so not among the params above
        take_plain_values([option] if option is not None else [])
        return option

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        examples = EXAMPLES.get(command_key(ctx))
        if examples:
            write_examples(examples, formatter)
