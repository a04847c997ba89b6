"""One duration grammar for every flag and setting (--in, --since, --window, --interval, --refresh,
JOBCTL_*_TIMEOUT, JOBCTL_HEARTBEAT_INTERVAL, ...).

A duration is amounts with units, largest first: `w` weeks, `d` days, `h` hours, `m` minutes,
`s` seconds (90s, 10m, 2h, 1d, 1w, 1h30m, 1.5h); case and spaces do not matter. A bare number is
seconds where a flag or setting took plain seconds before (`--interval 0.5`, `dlq --since 90`,
`JOBCTL_FETCH_TIMEOUT=30`), so those keep working; `--in` and `--window` never did and still ask
for a unit (is `--in 10` ten seconds or ten minutes?).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from jobctl.errors import UsageError

EXAMPLES = "90s, 10m, 2h, 1d, 1w or 1h30m"
GRAMMAR = f"a duration like {EXAMPLES}"
HINT = "units are w, d, h, m and s, largest first, e.g. 1h30m"
BARE = " (a bare number is seconds)"

_AMOUNT = r"(\d+(?:\.\d*)?|\.\d+)"
_WITH_UNITS = re.compile("".join(f"(?:{_AMOUNT}{unit})?" for unit in "wdhms"))
_BARE = re.compile(_AMOUNT)
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)


def grammar(bare: bool = True) -> str:
    return GRAMMAR + (BARE if bare else "")


def seconds_of(text: Any, *, bare: bool = True) -> float:
    """The seconds a duration stands for; ValueError (saying the grammar) when it is not one.

    `bare`: a number without a unit is seconds (numbers from a toml file too); negative amounts
    are never durations.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected {grammar(bare)}")
    if isinstance(text, int | float):
        if not bare or not math.isfinite(text) or text < 0:
            raise ValueError(f"expected {grammar(bare)}")
        return float(text)
    compact = "".join(str(text).split()).lower()
    if bare and _BARE.fullmatch(compact):
        return float(compact)
    match = _WITH_UNITS.fullmatch(compact)
    if not compact or not match or not any(match.groups()):
        raise ValueError(f"expected {grammar(bare)}")
    return sum(float(amount) * unit for amount, unit in zip(match.groups(), _UNIT_SECONDS) if amount)


def parse_seconds(
    text: Any,
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    positive: bool = False,
    bare: bool = True,
) -> float:
    """A flag's (or HTTP parameter's) duration in seconds; UsageError naming `name` otherwise.

    `positive` refuses zero; `minimum`/`maximum` bound the value (both inclusive).
    """
    try:
        seconds = seconds_of(text, bare=bare)
    except ValueError:
        raise UsageError(
            f"{name} expects {grammar(bare)}, got {text!r}", HINT + (BARE if bare else "")
        ) from None
    if positive and seconds <= 0:
        raise UsageError(f"{name} must be more than zero, got {text!r}", f"e.g. {name} 10m")
    if seconds < minimum:
        raise UsageError(
            f"{name} must be at least {format_seconds(minimum)}, got {text!r}",
            f"e.g. {name} {format_seconds(max(minimum, 1))}",
        )
    if maximum is not None and seconds > maximum:
        raise UsageError(
            f"{name} must be at most {format_seconds(maximum)}, got {text!r}",
            f"e.g. {name} {format_seconds(maximum)}",
        )
    return seconds


def parse_duration(text: str, name: str = "--in") -> timedelta:
    """A delay from now (`enqueue --in`): more than zero, as a timedelta."""
    seconds = parse_seconds(text, name, bare=False)
    if seconds <= 0:
        raise UsageError(f"{name} must be more than zero, got {text!r}", f"leave {name} out to run now")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"{name} {text!r} is out of range", "use a delay of at most a few years") from None


def setting_seconds(raw: Any) -> int:
    """A setting's duration in whole seconds (settings are used as integers: lease TTLs, timeouts)."""
    seconds = seconds_of(raw)
    if abs(seconds - round(seconds)) > 1e-6:
        raise ValueError(f"expected whole seconds ({grammar()})")
    return round(seconds)


def format_seconds(seconds: float) -> str:
    """The grammar's own spelling, for messages: 90 -> 1m30s, 0.2 -> 0.2s, 0 -> 0s."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    whole, parts = round(seconds), []
    for unit, size in zip("wdhms", _UNIT_SECONDS):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"
