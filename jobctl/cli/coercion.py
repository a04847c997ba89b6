"""Command-line values that need no conversion are taken as they are, without typer's pydantic layer.

typer (0.29) converts every parameter's value, even an option left at None, through a pydantic
TypeAdapter it builds on first use: importing pydantic and building them costs about 60 ms, more
than all of `jobctl stats --json`'s own work. Most values are already what the command takes: a str
for a str option, a tuple of str for a repeatable one, an empty tuple, None. Those are returned as
typer's adapter would return them; any other value (a number, a path, a date, a choice, a value
with a parser) goes to typer's own conversion, built when first needed. tests/cli/test_startup_imports.py
checks that `stats --json` loads no pydantic, so a typer that changes these internals is noticed;
without them (ImportError) every value simply takes typer's way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - a typer without this layer converts values its own way
    RuntimeParam = None  # type: ignore[assignment,misc]


def _plain_list(annotation: Any, values: list[Any] | tuple[Any, ...]) -> bool:
    """Empty (any list[...]), or all str for a list[str]."""
    return not values or (get_args(annotation) == (str,) and all(isinstance(v, str) for v in values))


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class PlainFirst(RuntimeParam):
        """A str as it is, a sequence of str as a list, an empty sequence as []; the rest as typer does.
        (None never reaches it: RuntimeParam.coerce answers None and () itself.)"""

        _typer: list[Any] = field(default_factory=list, compare=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation = self.annotation
            if self.parameter_info.parser is None:
                if annotation is str and isinstance(value, str):
                    return value
                if (
                    get_origin(annotation) is list
                    and isinstance(value, list | tuple)
                    and _plain_list(annotation, value)
                ):
                    return list(value)
            if not self._typer:
                self._typer.append(build_runtime_param(param.type_descriptor))
            return self._typer[0]._coerce_value(value, param, ctx)


def take_plain_values(params: list[Any]) -> None:
    """Give each typer parameter the conversion above (before typer builds its own on first use)."""
    if RuntimeParam is None:
        return
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if (
            desc is None
            or desc.file_annotation is not None
            or getattr(param, "_runtime_param", 0) is not None
        ):
            continue
        param._runtime_param = PlainFirst(parameter_info=desc.parameter_info, annotation=desc.annotation)
