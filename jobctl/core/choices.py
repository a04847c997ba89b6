"""Lists of names picked from a fixed set: "a,b" or ["a", "b"], checked, duplicates dropped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jobctl.errors import UsageError


def pick(given: str | Iterable[Any] | None, allowed: tuple[str, ...], what: str) -> list[str]:
    """The names asked for, in order; all of `allowed` when none; UsageError naming the unknown ones."""
    if given is None:
        return list(allowed)
    if isinstance(given, str):
        names = [n.strip().lower() for n in given.split(",")]
    elif isinstance(given, Iterable) and not isinstance(given, Mapping):
        names = list(given)
    else:
        raise UsageError(
            f"{what}s must be comma-separated text or a list, got {type(given).__name__}",
            f"{what}s are: {', '.join(allowed)}",
        )
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise UsageError(
            f"unknown {what} {', '.join(map(repr, unknown)) or '(none given)'}",
            f"{what}s are: {', '.join(allowed)}",
        )
    return list(dict.fromkeys(names))
