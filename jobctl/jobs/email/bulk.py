"""Email payloads for bulk sends: validate once per call what is shared, per row only what can differ.

`EmailRows(settings, template, shared).payload(to, row)` returns what
`prepare_email_payload(settings, to=to, template=template, data={**shared, **row}, ...)` returns and
refuses a row with the same UsageError, without rendering the template for every row.

How: the template's files (and every layout, include and imported macro) are walked once. When
every construct in them is one whose outcome cannot depend on the data's values (printing a variable,
`string`/`trim`-like filters, `str.split/strip` on strings, loops and conditions whose bodies only
print), the only way a row with all the template's variables present can fail is a validating filter
(`link`, `money`, `decimal`) applied to a variable as it was given. One probe render with tagged
stand-in values records which of those checks run and in which order (per combination of truthiness of
the variables that guard a check); a row then replays just those checks, in that order, on its own
values and gets the same first error as a render would. Anything the walk cannot prove (an unknown
construct, a missing variable, a value that is not a string) takes the full render: slower, same answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal as _Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from jobctl.errors import UsageError
from jobctl.jobs.email.addresses import normalize_recipients, plain_address
from jobctl.jobs.email.attachments import read_attachment
from jobctl.jobs.email.filters import decimal, link, money
from jobctl.jobs.email.message import sender_address
from jobctl.jobs.email.payload import MAX_DATA_BYTES, _check_total, _json_data, check_subject
from jobctl.jobs.email.templates import (
    _RENDER_ERRORS,
    HTML,
    SUBJECT,
    TEXT,
    _check_name,
    _exists,
    environment,
    render_email,
    render_error,
)

# Filters that validate their input; each fails (or not) on its first argument alone.
CHECKS = ("link", "money", "decimal")
# Built-in filters that turn any JSON value into text without failing.
TEXT_FILTERS = frozenset({"string", "e", "escape", "trim", "upper", "lower", "title", "capitalize"})
# str methods (on values known to be text) that cannot fail given constant text arguments.
STR_METHODS = {"split": "list", "strip": "str", "lower": "str", "upper": "str", "title": "str"}
VALIDATORS: dict[str, Callable[..., Any]] = {"link": link, "money": money, "decimal": decimal}
# A link `link` (urlsplit) surely accepts: an allowed scheme, then printable ASCII without spaces or the
# brackets urlsplit checks as an IPv6 host. Most links in a campaign; anything else calls the filter.
PLAIN_LINK_RE = re.compile(r"(?i:https?|mailto):[!-Z\\^-~]*")
MAX_SHAPES = 64  # probes kept per template (one per truthiness combination of guarding variables)
# JSON (ensure_ascii) spends at most 12 characters on one Python character (a surrogate pair).
JSON_CHAR = 12


class _Unproven(Exception):
    """The walk met something it cannot prove value-independent: rows take the full render."""


class _Tag(str):
    """A probe stand-in for the variable `var`: text, so every proven construct accepts it."""

    var: str


@dataclass
class _Plan:
    """What a template needs per row, found by walking its files once."""

    required: frozenset[str] = frozenset()  # every variable a render may read (globals excluded)
    guards: tuple[str, ...] = ()  # variables whose truthiness decides whether a check runs
    subject: str = "render"  # "fixed": cannot be blank; "flat": text + variables; "render": render it
    subject_parts: tuple[tuple[bool, str], ...] = ()  # for "flat": (is a variable, text or name)
    files: tuple[str, ...] = ()  # the files render_email renders, in its order
    why: str = ""  # why the fast path is off ("" when on)


@dataclass
class _Scope:
    names: dict[str, Any] = field(default_factory=dict)  # local name -> kind
    macros_see_context: bool = True  # False inside an imported macro: only its params and globals


class _Walker:
    """Abstract interpretation of a template's AST: kinds are "row:NAME", "str", "list", "any", "const"."""

    def __init__(self, env: jinja2.Environment):
        self.env = env
        self.required: set[str] = set()
        self.guards: set[str] = set()
        self.checks = 0
        self.asts: dict[str, nodes.Template] = {}
        self.depth = 0

    def ast(self, filename: str) -> nodes.Template:
        if filename not in self.asts:
            assert self.env.loader is not None  # every environment here is built with its loader
            source = self.env.loader.get_source(self.env, filename)[0]
            self.asts[filename] = self.env.parse(source, filename)
        return self.asts[filename]

    def file(self, filename: str, scope: _Scope, guarded: str | None) -> None:
        self.depth += 1
        if self.depth > 20:
            raise _Unproven("templates nest too deep")
        ast = self.ast(filename)
        top = _Scope({**scope.names, **self.top_names(filename)}, scope.macros_see_context)
        self.body(ast.body, top, guarded, filename)
        self.depth -= 1

    def top_names(self, filename: str) -> dict[str, Any]:
        """Names a file defines for itself: its imported macros and the macros it defines."""
        names: dict[str, Any] = {}
        for node in self.ast(filename).body:
            if isinstance(node, nodes.FromImport):
                self.from_import(node, names)
            elif isinstance(node, nodes.Macro):
                names[node.name] = ("macro", filename, node.name, True)  # sees the template's context
        return names

    def from_import(self, node: nodes.FromImport, names: dict[str, Any]) -> None:
        if node.with_context or not isinstance(node.template, nodes.Const):
            raise _Unproven("an import with context or a computed name")
        for item in node.names:
            name, alias = (item, item) if isinstance(item, str) else item
            names[alias] = ("macro", node.template.value, name, False)  # sees only its arguments and globals

    def body(self, body: list[nodes.Node], scope: _Scope, guarded: str | None, filename: str) -> None:
        for node in body:
            self.stmt(node, scope, guarded, filename)

    def stmt(self, node: nodes.Node, scope: _Scope, guarded: str | None, filename: str) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.printed(self.expr(child, scope, guarded))
        elif isinstance(node, nodes.Extends | nodes.Include):
            if not isinstance(node.template, nodes.Const) or not isinstance(node.template.value, str):
                raise _Unproven("a layout or include with a computed name")
            if isinstance(node, nodes.Include) and (node.ignore_missing or not node.with_context):
                raise _Unproven("an include that may be missing or has no context")
            self.top_level_only(scope, "an include")
            # a layout or an included file sees the context, not this file's imports and macros
            self.file(node.template.value, _Scope(), guarded)
        elif isinstance(node, nodes.Block):
            self.top_level_only(scope, "a block")
            self.body(node.body, scope, guarded, filename)
        elif isinstance(node, nodes.FromImport | nodes.Macro):
            pass  # imports were read by file(); a macro's body is walked where it is called
        elif isinstance(node, nodes.If):
            self.branches(node, scope, guarded, filename)
        elif isinstance(node, nodes.For):
            self.loop(node, scope, guarded, filename)
        else:
            raise _Unproven(f"{type(node).__name__} in {filename}")

    def top_level_only(self, scope: _Scope, what: str) -> None:
        """Which names a block or include inside a loop or macro sees is Jinja's business: do not guess."""
        if not scope.macros_see_context or any(not isinstance(k, tuple) for k in scope.names.values()):
            raise _Unproven(f"{what} inside a loop or macro")

    def branches(self, node: nodes.If, scope: _Scope, guarded: str | None, filename: str) -> None:
        guard = self.test(node.test, scope, guarded)
        before = self.checks
        self.body(node.body, scope, guard, filename)
        for elif_ in node.elif_:  # each elif is reached only when the tests above it are false
            self.branches(
                nodes.If(elif_.test, elif_.body, [], [], lineno=elif_.lineno), scope, guard, filename
            )
        self.body(node.else_, scope, guard, filename)
        self.guarded_checks(node.test, scope, guard, before)

    def test(self, test: nodes.Node, scope: _Scope, guarded: str | None) -> str:
        """The guard of a branch: "truth" when only the truthiness of row variables decides it."""
        self.expr(test, scope, guarded)
        if guarded in (None, "truth") and self.row_var(test, scope):
            return "truth"
        return "value"

    def guarded_checks(self, test: nodes.Node, scope: _Scope, guard: str, before: int) -> None:
        if self.checks == before:
            return  # the branches only print: which one runs cannot change the outcome
        if guard != "truth":
            raise _Unproven("a check inside a branch that depends on a value")
        name = self.row_var(test, scope)
        assert name is not None
        self.guards.add(name)

    def loop(self, node: nodes.For, scope: _Scope, guarded: str | None, filename: str) -> None:
        if node.recursive or not isinstance(node.target, nodes.Name):
            raise _Unproven("a recursive loop or one unpacking its items")
        kind = self.expr(node.iter, scope, guarded)
        if kind != "list":
            raise _Unproven("a loop over a value that may not be a list of text")
        inner = _Scope({**scope.names, node.target.name: "str", "loop": "any"}, scope.macros_see_context)
        before = self.checks
        if node.test is not None:
            self.expr(node.test, inner, "value")
        self.body(node.body, inner, "value", filename)
        self.body(node.else_, scope, "value", filename)
        if self.checks != before:
            raise _Unproven("a check inside a loop")

    def row_var(self, expr: nodes.Node, scope: _Scope) -> str | None:
        if isinstance(expr, nodes.Name):
            kind = self.name(expr, scope)
            if isinstance(kind, str) and kind.startswith("row:"):
                return kind[4:]
        return None

    def printed(self, kind: Any) -> None:
        if not isinstance(kind, str):
            raise _Unproven("a macro printed without calling it")

    def name(self, node: nodes.Name, scope: _Scope) -> Any:
        if node.name in scope.names:
            return scope.names[node.name]
        if node.name in ("caller", "varargs", "kwargs", "self", "super"):
            raise _Unproven(f"the special name {node.name!r}")
        if node.name in self.env.globals:
            return "any"  # the row's value when it has one, else the global: printing either is safe
        if not scope.macros_see_context:
            raise _Unproven(f"{node.name!r} is undefined inside an imported macro")
        self.required.add(node.name)
        return "row:" + node.name

    def expr(self, node: nodes.Node, scope: _Scope, guarded: str | None) -> Any:
        if isinstance(node, nodes.Const):
            return "const"
        if isinstance(node, nodes.Name):
            return self.name(node, scope)
        if isinstance(node, nodes.Filter):
            return self.filter(node, scope, guarded)
        if isinstance(node, nodes.Call):
            return self.call(node, scope, guarded)
        if isinstance(node, nodes.CondExpr):
            if node.expr2 is None:
                raise _Unproven("an inline if without else")
            guard = self.test(node.test, scope, guarded)
            before = self.checks
            kinds = {self.expr(node.expr1, scope, guard), self.expr(node.expr2, scope, guard)}
            self.guarded_checks(node.test, scope, guard, before)
            return "any" if len(kinds) > 1 else kinds.pop()
        if isinstance(node, nodes.Compare):
            if any(op.op not in ("eq", "ne") for op in node.ops):
                raise _Unproven("an ordering or `in` comparison")
            for part in (node.expr, *(op.expr for op in node.ops)):
                self.printed(self.expr(part, scope, guarded))
            return "any"
        if isinstance(node, nodes.Not):
            self.printed(self.expr(node.node, scope, guarded))
            return "any"
        if isinstance(node, nodes.And | nodes.Or):
            self.printed(self.expr(node.left, scope, guarded))
            self.printed(self.expr(node.right, scope, "value"))  # evaluated or not, by value
            return "any"
        if isinstance(node, nodes.Concat):
            for part in node.nodes:
                self.printed(self.expr(part, scope, guarded))
            return "str"
        raise _Unproven(f"the expression {type(node).__name__}")

    def filter(self, node: nodes.Filter, scope: _Scope, guarded: str | None) -> Any:
        if node.kwargs or node.dyn_args or node.dyn_kwargs or node.node is None:
            raise _Unproven("a filter with keyword or * arguments")
        kind = self.expr(node.node, scope, guarded)
        self.printed(kind)
        if node.name in TEXT_FILTERS and not node.args:
            return "str"
        if node.name in CHECKS:
            if len(node.args) > (1 if node.name == "money" else 0):
                raise _Unproven(f"{node.name} with unexpected arguments")
            for arg in node.args:  # money's currency: only ever turned into text
                self.printed(self.expr(arg, scope, guarded))
            if kind != "const" and not (isinstance(kind, str) and kind.startswith("row:")):
                raise _Unproven(f"{node.name} applied to a computed value")
            if guarded == "value":
                raise _Unproven(f"{node.name} inside a branch or loop that depends on a value")
            self.checks += 1
            return "any" if node.name == "decimal" else "str"
        raise _Unproven(f"the filter {node.name!r}")

    def call(self, node: nodes.Call, scope: _Scope, guarded: str | None) -> Any:
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise _Unproven("a call with keyword or * arguments")
        target = node.node
        if isinstance(target, nodes.Getattr):
            owner = self.expr(target.node, scope, guarded)
            if owner not in ("str",) or target.attr not in STR_METHODS:
                raise _Unproven(f"the method {target.attr!r}")
            # one non-empty constant separator at most: "".split("") and .lower("x") raise
            arity = 1 if target.attr in ("split", "strip") else 0
            if len(node.args) > arity or not all(
                isinstance(a, nodes.Const) and isinstance(a.value, str) and a.value for a in node.args
            ):
                raise _Unproven(f"{target.attr} with unexpected arguments")
            return STR_METHODS[target.attr]
        if not isinstance(target, nodes.Name):
            raise _Unproven("a call of a computed callable")
        kind = scope.names.get(target.name)
        if not (isinstance(kind, tuple) and kind[0] == "macro"):
            raise _Unproven(f"a call of {target.name!r}")
        return self.macro(kind, node.args, scope, guarded)

    def macro(
        self, kind: tuple[str, str, str, bool], args: Sequence[nodes.Node], scope: _Scope, guarded: str | None
    ) -> str:
        _, filename, name, sees_context = kind
        found = [m for m in self.ast(filename).body if isinstance(m, nodes.Macro) and m.name == name]
        if len(found) != 1:
            raise _Unproven(f"macro {name!r} not found once in {filename}")
        macro = found[0]
        if len(args) != len(macro.args):
            raise _Unproven(f"macro {name!r} called with defaults")
        kinds = [self.expr(a, scope, guarded) for a in args]
        for kind in kinds:
            self.printed(kind)
        params = {p.name: k for p, k in zip(macro.args, kinds, strict=True)}
        inner = _Scope({**self.top_names(filename), **params}, macros_see_context=sees_context)
        self.depth += 1
        if self.depth > 20:
            raise _Unproven("macros nest too deep")
        self.body(macro.body, inner, guarded, filename)
        self.depth -= 1
        return "str"


def _flat_subject(ast: nodes.Template, env: jinja2.Environment) -> tuple[str, tuple[tuple[bool, str], ...]]:
    """("fixed", ()) when the subject has text outside any tag, ("flat", parts) when only text and
    variables, else ("render", ())."""
    parts: list[tuple[bool, str]] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return "render", ()
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.name not in env.globals:
                parts.append((True, child.name))
            else:
                parts.append((True, ""))  # not flat; still fixed when the text alone is not blank
    if "".join(text for is_var, text in parts if not is_var).strip():
        return "fixed", ()
    if any(is_var and not text for is_var, text in parts):
        return "render", ()
    return "flat", tuple(parts)


def _plan(env: jinja2.Environment, template: str) -> _Plan:
    walker = _Walker(env)
    try:
        html = [template + HTML] if _exists(env, template + HTML) else []
    except UsageError as exc:  # a broken .html: render_email reports it, after the subject and text
        return _Plan(why=exc.message)
    files = [template + SUBJECT, template + TEXT, *html]
    try:
        for filename in files:
            walker.file(filename, _Scope(), None)
        subject, parts = _flat_subject(walker.ast(template + SUBJECT), env)
    except _Unproven as exc:
        return _Plan(files=tuple(files), why=str(exc))
    except (jinja2.TemplateError, OSError) as exc:  # the full render reports these with its own words
        return _Plan(files=tuple(files), why=f"{type(exc).__name__}: {exc}")
    return _Plan(
        required=frozenset(walker.required),
        guards=tuple(sorted(walker.guards)),
        subject=subject,
        subject_parts=parts,
        files=tuple(files),
    )


def _probe_env(env: jinja2.Environment, log: list[tuple[str, str]]) -> jinja2.Environment:
    """A twin of env whose validating filters record which variable they were given instead of failing."""
    probe = env.overlay(cache_size=0)  # compiled apart: its templates bind these filters

    def recorder(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def record(value: Any, *args: Any) -> Any:
            if not isinstance(value, _Tag):
                return real(value, *args)  # a constant: the same outcome for every row
            log.append((name, value.var))
            return _Decimal(0) if name == "decimal" else str(value)

        return record

    probe.filters = {**env.filters, **{name: recorder(name, real) for name, real in VALIDATORS.items()}}
    return probe


class EmailRows:
    """Payloads for one bulk call: the template, shared data, subject and attachments are checked once."""

    def __init__(
        self,
        settings,
        template: str,
        shared: dict | None,
        *,
        subject: str | None = None,
        attachments: list[str | Path] | tuple = (),
    ):
        sender_address(settings)
        self.settings = settings
        self.env = environment(settings)
        _check_name(self.env, template)
        self.template = template
        self.shared = _json_data(shared)
        self.shared_text = json.dumps(self.shared, allow_nan=False)
        # nested shared values are rebuilt per row so that no two payloads share a list or dict
        self.shared_flat = all(not isinstance(v, dict | list) for v in self.shared.values())
        self.shared_size = len(self.shared_text)
        self.subject = check_subject(subject)
        if isinstance(attachments, str | Path):
            attachments = [attachments]
        files = [read_attachment(path, settings.max_attachment_size) for path in attachments]
        _check_total(files, settings.max_attachment_size)
        self.attachments = [a.to_payload() for a in files]
        self.plan = _plan(self.env, template)
        self.required = self.plan.required
        self.replays: dict[tuple[bool, ...], list[tuple[str, ...]] | None] = {}
        self.last: dict[tuple[str, ...], tuple[Any, UsageError | None]] = {}

    @property
    def fast(self) -> bool:
        """Whether rows can skip the full render (else `self.plan.why` says what stopped it)."""
        return not self.plan.why

    def payload(self, to: str, row: Mapping[str, Any], *, checked_address: bool = False) -> dict[str, Any]:
        """prepare_email_payload's result for this row, or its UsageError.

        checked_address: `to` is an address as iter_recipients_csv yields it (one, normalised already).
        """
        if checked_address:
            recipients = [to]
        elif isinstance(to, str) and (plain := plain_address(to)) is not None:
            recipients = [plain]
        else:
            recipients = normalize_recipients(to)
        data = self.data(row)
        if self.plan.why or not self.required <= data.keys():
            render_email(self.settings, self.template, data)
        else:
            self.replay(data)
        payload: dict[str, Any] = {"to": recipients, "template": self.template, "data": data}
        if self.subject is not None:
            payload["subject"] = self.subject
        payload["attachments"] = [dict(a) for a in self.attachments]
        return payload

    def data(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """_json_data({**shared, **row}); text-only rows are merged without a JSON round trip."""
        size = self.shared_size + 2
        for key, value in row.items():
            if type(key) is not str or type(value) is not str:
                return _json_data({**self.shared, **row})
            size += JSON_CHAR * (len(key) + len(value)) + 8
        if size > MAX_DATA_BYTES:  # only a bound: measure it for real
            return _json_data({**self.shared, **row})
        if self.shared_flat:
            return {**self.shared, **row}
        return {**json.loads(self.shared_text), **row}

    def replay(self, data: dict[str, Any]) -> None:
        """Run the template's checks on this row's values in the order a render would."""
        key = tuple(bool(data[name]) for name in self.plan.guards)
        steps = self.replays.get(key, ())
        if steps == ():
            steps = self.replays[key] = self.probe(key) if len(self.replays) < MAX_SHAPES else None
        if steps is None:
            render_email(self.settings, self.template, data)
            return
        last = self.last
        for step in steps:
            if step[0] == "subject":
                self.subject_check(data)
                continue
            name, var = step
            value = data[var]
            seen = last.get(step)
            if seen is not None and seen[0] is value:
                error = seen[1]
            else:
                error = None
                if name == "link" and type(value) is str and PLAIN_LINK_RE.fullmatch(value):
                    continue
                try:
                    VALIDATORS[name](value)
                except _RENDER_ERRORS as exc:
                    error = render_error(self.template, exc)
                last[step] = (value, error)
            if error is not None:
                raise UsageError(error.message, error.hint)

    def subject_check(self, data: dict[str, Any]) -> None:
        if self.plan.subject == "flat":
            text = "".join(str(data[part]) if is_var else part for is_var, part in self.plan.subject_parts)
            blank = not text.split()
        else:
            filename = self.template + SUBJECT
            try:
                blank = not self.env.get_template(filename).render(data).split()
            except _RENDER_ERRORS as exc:
                raise render_error(self.template, exc) from None
        if blank:
            raise UsageError(
                f"template {self.template!r} rendered an empty subject", "check its data or subject file"
            )

    def probe(self, truth: tuple[bool, ...]) -> list[tuple[str, ...]] | None:
        """The checks one render runs for rows with this truthiness of the guards, in order; None when
        the probe itself fails (the template then fails in ways the walk cannot replay: render)."""
        guards = dict(zip(self.plan.guards, truth, strict=True))
        stand_ins: dict[str, Any] = {}
        for name in self.required:
            tag = _Tag("x" if guards.get(name, True) else "")
            tag.var = name
            stand_ins[name] = tag
        log: list[tuple[str, str]] = []
        env = _probe_env(self.env, log)
        steps: list[tuple[str, ...]] = []
        for filename in self.plan.files:
            start = len(log)
            try:
                env.get_template(filename).render(stand_ins)
            except Exception:  # noqa: BLE001 - any failure means: do not trust the replay, render
                return None
            if filename.endswith(SUBJECT) and self.plan.subject == "render":
                steps.append(("subject",))  # rendered per row: its checks happen there
                continue
            for step in log[start:]:
                if step not in steps:  # a check that passed once passes again on the same value
                    steps.append(step)
            if filename.endswith(SUBJECT) and self.plan.subject == "flat":
                steps.append(("subject",))
        return steps
