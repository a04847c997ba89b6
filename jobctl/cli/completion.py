"""Shell completion's values: queue, template, schedule, report-kind, token, job-type and priority names.

`jobctl __complete KIND [PREFIX]` prints the names of KIND that start with PREFIX, one a line; the
scripts in completions/ (scripts/gen_docs.py) run it when TAB is pressed on an option or argument
declared here with `autocompletion=completion.QUEUE` (and so on). It runs on every TAB, so it is
answered by jobctl.cli.launch without loading the CLI, imports only what its kind needs, and stays
quiet: values on stdout and nothing else, never an error or a traceback, an empty answer when Redis
does not answer within a fraction of a second (the embedded server is never started for it).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

COMMAND = "__complete"
REDIS_TIMEOUT = 0.3  # seconds to connect and to read; a TAB must not hang on an unreachable server


def _settings() -> Any:
    # lazy: completion loads settings only for the kinds that need them (see module doc)
    from jobctl.config import load_settings

    return load_settings()


def _connection(settings: Any) -> Any:
    # lazy: redis is imported only for the kinds stored there
    from jobctl.core.connection import connect_if_running

    return connect_if_running(settings, timeout=REDIS_TIMEOUT)


def _queues() -> Iterable[str]:
    # lazy: each kind imports only what it reads (the catalogue: jobctl.toml's [queues])
    from jobctl.core.catalog import queue_catalog

    return queue_catalog(_settings())


def _templates() -> Iterable[str]:
    # lazy: the names of the built-in and JOBCTL_TEMPLATES_DIR templates (their files' names: no Jinja2)
    from jobctl.jobs.template_names import template_names

    return template_names(_settings())


def _schedules() -> Iterable[str]:
    settings = _settings()
    connection = _connection(settings)
    if connection is None:  # none at all: what `schedule pause/run/...` would act on is unknown
        return ()
    # lazy: the schedules' module (croniter, rq), only for this kind and once Redis has answered
    from jobctl.core.schedules import schedule_names

    return schedule_names(connection, settings)


def _report_kinds() -> Iterable[str]:
    # lazy: the job-type registry, only for this kind
    from jobctl.core.jobtypes import REPORT_KINDS

    return REPORT_KINDS


def _tokens() -> Iterable[str]:
    # lazy: the tokens' module and redis, only for this kind
    from jobctl.core.tokens import token_names

    connection = _connection(_settings())
    return token_names(connection) if connection is not None else ()


def _job_types() -> Iterable[str]:
    # lazy: the job-type registry, only for this kind
    from jobctl.core.jobtypes import offered

    return offered(_settings())  # the test-only types only where JOBCTL_TEST_JOB_TYPES is on


def _priorities() -> Iterable[str]:
    # lazy: the catalogue's constants, only for this kind
    from jobctl.core.catalog import PRIORITIES

    return PRIORITIES


# kind -> its values; the names are what `jobctl __complete KIND` and the completion scripts use
KINDS: dict[str, Callable[[], Iterable[str]]] = {
    "queue": _queues,
    "template": _templates,
    "schedule": _schedules,
    "report-kind": _report_kinds,
    "token": _tokens,
    "job-type": _job_types,
    "priority": _priorities,
}


def values(kind: str, prefix: str = "") -> list[str]:
    """The names of `kind` starting with `prefix`; [] when they cannot be read, for whatever reason."""
    try:
        names = KINDS[kind]()
        return [n for n in dict.fromkeys(names) if n.startswith(prefix)]
    except Exception:  # noqa: BLE001 - a TAB shows no values rather than an error
        return []


def completer(kind: str) -> Callable[[str], list[str]]:
    """An `autocompletion=` callback for an option or argument that takes a name of `kind`.

    Its `completion_kind` attribute is what scripts/gen_docs.py reads to wire `jobctl __complete KIND`
    into the bash, zsh and fish scripts: the one place an option says which names it takes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown completion kind {kind!r}; kinds are: {', '.join(KINDS)}")

    def complete(incomplete: str) -> list[str]:
        return values(kind, incomplete)

    complete.completion_kind = kind  # type: ignore[attr-defined]
    complete.__name__ = complete.__qualname__ = f"complete_{kind.replace('-', '_')}"
    return complete


QUEUE = completer("queue")
TEMPLATE = completer("template")
SCHEDULE = completer("schedule")
REPORT_KIND = completer("report-kind")
TOKEN = completer("token")
JOB_TYPE = completer("job-type")
PRIORITY = completer("priority")


def kind_of(param: Any) -> str | None:
    """The completion kind a click parameter of the Typer app was declared with, or None."""
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
    return getattr(getattr(info, "autocompletion", None), "completion_kind", None)


def main(argv: list[str]) -> int:
    """`jobctl __complete KIND [PREFIX]`: the values on stdout, one a line; exit 0, or 2 for a bad call."""
    if not 1 <= len(argv) <= 2 or argv[0] not in KINDS:
        return 2
    # whatever a setting's loader or a library would print (a warning, a log line) goes nowhere:
    # the shell would show it in the middle of the command line
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        found = values(argv[0], argv[1] if len(argv) > 1 else "")
    sys.stdout.write("".join(f"{v}\n" for v in found if v and "\n" not in v))
    return 0
