"""Email templates: built-ins shipped in ./templates, overridden/extended by JOBCTL_TEMPLATES_DIR.

A template NAME is three files: NAME.subject.txt, NAME.txt (plain text) and NAME.html (optional for
added templates; every built-in has one). Files starting with "_" are layouts, not templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from jobctl.errors import ConfigError, UsageError
from jobctl.jobs.email.filters import FILTERS, TemplateDataError

BUILT_IN = "built-in"
SUBJECT, TEXT, HTML = ".subject.txt", ".txt", ".html"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SUBJECT_FILE_RE = re.compile(rf"({NAME_RE.pattern})\.subject\.txt")
_UNDEFINED_RE = re.compile(r"^'([^']+)' is undefined$")
_NO_ATTRIBUTE_RE = re.compile(r"has no attribute '([^']+)'")
DEFAULT_BRAND = "Marketplace"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(HTML)


@lru_cache(maxsize=16)
def _environment(templates_dir: str, brand: str) -> jinja2.Environment:
    builtin = jinja2.PackageLoader("jobctl.jobs.email", "templates")
    loader: jinja2.BaseLoader = builtin
    if templates_dir:  # searched first: overrides and additions
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates_dir), builtin])
    env = jinja2.Environment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals["brand"] = brand
    return env


def _override_dir(settings) -> str:
    raw = settings.templates_dir
    if not raw:
        return ""
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(f"templates dir {raw} is not a directory", "fix or unset JOBCTL_TEMPLATES_DIR")
    return str(path.resolve())


@lru_cache(maxsize=16)
def _brand(email_from: str) -> str:
    return parseaddr(email_from)[0].strip() or DEFAULT_BRAND


def environment(settings) -> jinja2.Environment:
    return _environment(_override_dir(settings), _brand(settings.email_from))


def _names(env: jinja2.Environment) -> list[str]:
    found = {m.group(1) for n in env.list_templates() if (m := _SUBJECT_FILE_RE.fullmatch(n))}
    return sorted(found)


def _exists(env: jinja2.Environment, filename: str) -> bool:
    try:
        env.get_template(filename)  # cached after the first load, unlike loader.get_source
    except jinja2.TemplateNotFound:
        return False
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    return True


def _check_name(env: jinja2.Environment, name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or not _exists(env, name + SUBJECT):
        raise UsageError(f"unknown email template {name!r}", f"templates: {', '.join(_names(env))}")
    if not _exists(env, name + TEXT):
        raise UsageError(
            f"email template {name!r} has no plain-text body {name}{TEXT}",
            "add the file next to its subject in JOBCTL_TEMPLATES_DIR",
        )


def _source(env: jinja2.Environment, filename: str) -> str:
    assert env.loader is not None  # every environment here is built with its loader
    return env.loader.get_source(env, filename)[0]


def _variables(env: jinja2.Environment, filename: str, seen: set[str]) -> set[str]:
    if filename in seen:
        return set()
    seen.add(filename)
    source = _source(env, filename)
    ast = env.parse(source, filename)
    imported = {
        name if isinstance(name, str) else name[1]
        for node in ast.find_all(nodes.FromImport)
        for name in node.names
    }
    imported |= {node.target for node in ast.find_all(nodes.Import)}
    found = set(meta.find_undeclared_variables(ast)) - imported
    for ref in meta.find_referenced_templates(ast):
        if ref:
            found |= _variables(env, ref, seen)
    return found


def _syntax_error(exc: jinja2.TemplateSyntaxError) -> UsageError:
    where = exc.filename or exc.name or "template"
    return UsageError(
        f"email template {where} line {exc.lineno}: {exc.message}",
        "fix the template file (JOBCTL_TEMPLATES_DIR)",
    )


def list_templates(settings) -> list[dict[str, Any]]:
    """Every template: name, raw subject, variables its files (and layouts) use, and where it lives."""
    env = environment(settings)
    override = _override_dir(settings)
    overridden = set(jinja2.FileSystemLoader(override).list_templates()) if override else set()
    rows = []
    for name in _names(env):
        files = [name + SUBJECT, name + TEXT, name + HTML]
        files = [f for f in files if _exists(env, f)]
        try:
            variables = set().union(*(_variables(env, f, set()) for f in files))
        except jinja2.TemplateSyntaxError as exc:
            raise _syntax_error(exc) from None
        rows.append(
            {
                "name": name,
                "subject": _source(env, name + SUBJECT).strip(),
                "variables": sorted(variables - set(env.globals)),
                "source": override if overridden & set(files) else BUILT_IN,
            }
        )
    return rows


_RENDER_ERRORS = (
    jinja2.UndefinedError,
    jinja2.TemplateSyntaxError,
    jinja2.TemplateNotFound,
    TemplateDataError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
)


def render_error(name: str, exc: Exception) -> UsageError:
    """The UsageError for one of _RENDER_ERRORS raised while rendering template NAME (bulk.py replays it)."""
    if isinstance(exc, jinja2.UndefinedError):
        text = str(exc)
        if m := _UNDEFINED_RE.match(text):
            return UsageError(
                f"template {name!r} needs variable {m.group(1)!r}", f"add {m.group(1)} to the template data"
            )
        if m := _NO_ATTRIBUTE_RE.search(text):
            return UsageError(
                f"template {name!r} needs field {m.group(1)!r} in its data ({text})",
                "check the structure of the data you pass",
            )
        return UsageError(f"template {name!r} needs data it was not given: {text}", "check the template data")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _syntax_error(exc)
    if isinstance(exc, jinja2.TemplateNotFound):
        return UsageError(
            f"template {name!r} refers to missing template file {exc.name!r}",
            "add it to JOBCTL_TEMPLATES_DIR",
        )
    if isinstance(exc, TemplateDataError):
        return UsageError(f"template {name!r}: {exc}", "check the data you pass")
    return UsageError(f"template {name!r} failed to render: {exc}", "check the types of the data you pass")


def _render(env: jinja2.Environment, name: str, filename: str, data: dict[str, Any]) -> str:
    try:
        return env.get_template(filename).render(data)
    except _RENDER_ERRORS as exc:
        raise render_error(name, exc) from None


def render_email(settings, template: str, data: dict[str, Any] | None = None) -> RenderedEmail:
    """Render subject, plain text and HTML (None when the template has no .html file)."""
    env = environment(settings)
    _check_name(env, template)
    data = dict(data or {})
    subject = " ".join(_render(env, template, template + SUBJECT, data).split())
    if not subject:
        raise UsageError(f"template {template!r} rendered an empty subject", "check its data or subject file")
    text = _render(env, template, template + TEXT, data)
    html = _render(env, template, template + HTML, data) if _exists(env, template + HTML) else None
    return RenderedEmail(subject=subject, text=text, html=html)
