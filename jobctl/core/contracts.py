"""The job-type contract: the one declaration of what a job type's payload is.

Each job type declares a `Contract` in its own `jobs/` module: its fields (name, kind, required),
how a set of fields becomes the payload the worker reads (`build`, which validates everything it
can before anything reaches Redis), and how the worker reads a stored payload back (`load`, the
same check a DLQ replay or a retry runs before re-queueing). Every way in (CLI, Python API, HTTP,
schedules, replay) reaches these through jobctl.core.submit.

Fields come from typed callers (Python, JSON) and from text (`--data key=value`, schedule data
typed on a command line); `normalize` turns text into each field's kind, so `order_id=12` is the
integer 12 wherever it was typed, and refuses keys the type does not have, naming the type's fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import import_module
from typing import Any

from jobctl.errors import UsageError

KINDS = ("text", "int", "number", "bool", "list", "object", "amount", "date", "any")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# Keys the scheduler put into payloads before scheduler facts moved to job meta; a stored job or a
# dead-letter entry may still carry them, and reading one back moves them out of the payload.
SCHEDULER_KEYS = ("schedule", "occurrence", "manual")
ANY_KEYS = "*"
JSON_HINT = "use strings, numbers, lists and objects"


def check_json(value: Any, what: str = "payload") -> None:
    """Refuse what JSON cannot hold (a datetime, a set, an object): `what` names it in the message."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what} is not JSON-serialisable: {exc}", JSON_HINT) from None


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # one of KINDS: how a value typed as text is read
    required: bool = False
    doc: str = ""
    recipient: bool = False  # holds who a message goes to: `jobctl job search --recipient` matches it


@dataclass(frozen=True)
class BuildContext:
    """What the caller knows besides the fields: a schedule's occurrence resolves "the period before it"."""

    occurrence: datetime | None = None


@dataclass(frozen=True)
class Contract:
    job_type: str
    fields: tuple[Field, ...]
    # (settings, fields, context) -> payload; raises UsageError/NotFound naming the field
    build: Callable[[Any, dict[str, Any], BuildContext], dict[str, Any]]
    # payload -> payload as the worker reads it (raises UsageError); run again before a replay
    load: Callable[[Any], Any]
    # payload -> the job's description (shown in lists and `rq info`; never personal data)
    describe: Callable[[dict[str, Any]], str]
    # the field that receives keys the type does not declare (email: template variables), if any;
    # ANY_KEYS keeps them as they are (noop: a smoke test carries whatever it is given)
    extra: str | None = None
    summary: str = ""
    # (settings, context) -> fields -> payload, for many rows of one call: the same result and
    # errors as build(normalize(fields)), faster (email renders once per row shape); None: build
    bulk: Callable[[Any, BuildContext], Callable[[Mapping[str, Any] | None], dict[str, Any]]] | None = None
    _by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def spec(self, name: str) -> Field | None:
        return self._by_name.get(name)


def normalize(contract: Contract, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """`raw` as the contract's fields: text read by each field's kind, unknown keys refused (or, for
    a type with an `extra` field, gathered into it), required fields present."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UsageError(
            f"{contract.job_type} data must be an object of field -> value, got {type(raw).__name__}",
            f"fields: {', '.join(contract.names)}",
        )
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        spec = contract.spec(key)
        if spec is None:
            if key in SCHEDULER_KEYS:
                continue  # see SCHEDULER_KEYS: facts about the run, not the payload
            if contract.extra == ANY_KEYS:
                out[key] = value
                continue
            if contract.extra is None:
                raise UsageError(
                    f"unknown {contract.job_type} field {key!r}",
                    f"{contract.job_type} fields: {', '.join(contract.names) or '(none)'}",
                )
            extra[key] = value
            continue
        out[key] = read_value(spec, value, contract.job_type)
    if extra and contract.extra is not None:  # (extra is only filled when the contract has one)
        current = out.get(contract.extra) or {}
        if not isinstance(current, Mapping):
            raise UsageError(
                f"{contract.job_type} field {contract.extra!r} must be an object",
                f"pass {contract.extra} as an object of name -> value",
            )
        out[contract.extra] = {**current, **extra}
    missing = [f.name for f in contract.fields if f.required and out.get(f.name) in (None, "", [])]
    if missing:
        raise UsageError(
            f"{contract.job_type} needs field {missing[0]!r}",
            f"required {contract.job_type} fields: "
            f"{', '.join(f.name for f in contract.fields if f.required)}",
        )
    return out


# what a value given already typed (JSON, Python) may be, per kind; text is read by the kind below.
# A value of another type is refused here, naming the field, rather than deep in the type's build.
TYPED: dict[str, tuple[type, ...]] = {
    "text": (int,),  # an id given as a number (customer_id=7) is its text
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "object": (Mapping,),
    "amount": (int, float, Decimal),  # the build refuses a float with its own words
    "date": (date,),  # datetime is a date
}
KIND_WORDS = {  # kind -> (what it is, an example in JSON)
    "text": ("text", '"abc"'),
    "int": ("an integer", "12"),
    "number": ("a number", "1.5"),
    "bool": ("true or false", "true"),
    "list": ("a list (or comma-separated text)", '["a", "b"]'),
    "object": ("an object", '{"key": "value"}'),
    "amount": ("an amount (integer cents or text such as '12.34')", '"12.34"'),
    "date": ("a date (YYYY-MM-DD) or an ISO datetime", '"2024-01-31"'),
}


def read_value(spec: Field, value: Any, job_type: str) -> Any:
    """A value typed as text, read as the field's kind; a typed value checked to be of the kind
    (None is no value: the required check or the build's default sees it)."""
    label = f"{job_type} field {spec.name!r}"
    if value is None or spec.kind == "any":
        return value
    if not isinstance(value, str):
        allowed = TYPED[spec.kind]
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            words, example = KIND_WORDS[spec.kind]
            raise UsageError(
                f"{label} must be {words}, got {type(value).__name__}", f"e.g. {spec.name}: {example}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{label} must be a finite number, got {value!r}", f"e.g. {spec.name}=1.5")
        return value
    if spec.kind in ("text", "amount", "date"):
        return value
    text = value.strip()
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{label} must be an integer, got {value!r}", f"e.g. {spec.name}=12") from None
    if spec.kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):  # float() reads "inf" and "nan" too
            raise UsageError(f"{label} must be a number, got {value!r}", f"e.g. {spec.name}=1.5")
        return number
    if spec.kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise UsageError(f"{label} must be true or false, got {value!r}", f"e.g. {spec.name}=true")
    if spec.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.kind == "object":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise UsageError(
                f"{label} must be a JSON object, got {value!r}", f'e.g. {spec.name}={{"key": "value"}}'
            )
        return parsed
    return value


def split_scheduler_keys(payload: Any) -> tuple[Any, dict[str, Any]]:
    """A stored payload without SCHEDULER_KEYS, and those keys (for the job's meta)."""
    if not isinstance(payload, dict) or not any(k in payload for k in SCHEDULER_KEYS):
        return payload, {}
    facts = {k: payload[k] for k in SCHEDULER_KEYS if k in payload}
    return {k: v for k, v in payload.items() if k not in SCHEDULER_KEYS}, facts


@lru_cache(maxsize=64)
def load_contract(path: str) -> Contract:
    """The Contract at "module:NAME"; imported on first use so a face loads only what it needs."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)
