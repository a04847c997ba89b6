"""What every command shares: global state, --json, error rendering, confirmation."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
import typer
from typer.core import TyperCommand, TyperGroup

# click's parse errors (a missing option, a bad value, no such command) are rendered here like every
# other error; recent typer vendors click
try:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # pragma: no cover - typer that still depends on click
    from click.exceptions import ClickException, NoArgsIsHelpError
    from click.exceptions import UsageError as ClickUsageError

from jobctl.cli.coercion import take_plain_values
from jobctl.cli.metavars import JobctlCommand, name_values
from jobctl.config import Settings
from jobctl.core import runtime
from jobctl.core.connection import connect, permission_refused
from jobctl.core.limits import server_full
from jobctl.errors import ExitCode, JobctlError, RedisUnavailable, UsageError


class LazyConsole:
    """A Rich Console made on first use: importing Rich costs tens of milliseconds, and the commands
    that print JSON or plain lines (every --json) never need it. `console` is the Console itself,
    for Rich's Live and Progress."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console  # lazy: Rich only for the commands that render with it

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


stdout = LazyConsole(soft_wrap=False)
stderr = LazyConsole(stderr=True, soft_wrap=True)
JSON_META = "jobctl.json"
# the metavar of every flag that takes a duration (one grammar: jobctl.durations); the tests
# find the duration flags by it, so a new one is tried like the rest
DURATION = "DURATION"


@dataclass
class State:
    flags: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False
    _settings: Settings | None = None
    _connection: redis.Redis | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = runtime.load_settings(self.flags)
            runtime.install(self._settings)
        return self._settings

    def install_runtime(self) -> Settings:
        """Load the settings and make them the process's runtime settings (used by jobctl.api)."""
        return self.settings

    @property
    def connection(self) -> redis.Redis:
        if self._connection is None:
            self._connection = connect(self.settings)
            runtime.install(self.settings, self._connection)
        return self._connection


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def _mark_json(ctx: typer.Context, _param: object, value: bool) -> bool:
    if value:
        ctx.meta[JSON_META] = True
    return value


JsonOption = typer.Option(
    False, "--json", help="Print machine-readable JSON on stdout.", callback=_mark_json, is_eager=True
)


def emit_json(data: Any, *, compact: bool = False) -> None:
    """Pretty JSON, or one document per line (compact) for streams such as `stats --watch --json`."""
    sys.stdout.write(json.dumps(data, indent=None if compact else 2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_streaming_ids(ids: Iterable[str], fields: dict[str, Any], key: str = "job_ids") -> None:
    """`emit_json({key: list(ids), **fields})`, written as it goes: a million ids are ~40 MB of JSON
    text, which need not be built (nor the list of ids) before the first byte goes out."""
    out = sys.stdout
    out.write(f"{{\n  {json.dumps(key)}: [")
    chunk: list[str] = []
    count = 0
    for count, job_id in enumerate(ids, 1):
        chunk.append(("\n    " if count == 1 else ",\n    ") + json.dumps(job_id))
        if len(chunk) >= 10_000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk) + ("\n  ]" if count else "]"))
    for name, value in fields.items():
        out.write(f",\n  {json.dumps(name)}: {json.dumps(value, default=str, ensure_ascii=False)}")
    out.write("\n}\n")
    out.flush()


def render_error(exc: JobctlError, as_json: bool, verbose: bool) -> None:
    if as_json:
        emit_json(exc.to_dict())
    else:
        # plain writes: Rich would wrap or mark up user text such as [brackets]
        sys.stderr.write(f"jobctl: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
    if verbose:
        traceback.print_exc(file=sys.stderr)


def from_click(exc: ClickException, command: str) -> JobctlError:
    """click's error as jobctl's: one line (click's own words) and a hint naming the help of the
    command it is about (`command`, unless click knows better); the exit code stays click's."""
    text = " ".join(exc.format_message().split()).rstrip(".")
    if text[:2].istitle():  # "No such option" -> "no such option"; "REDIS..." stays
        text = text[0].lower() + text[1:]
    if isinstance(exc, ClickUsageError) and exc.ctx is not None:
        command = exc.ctx.command_path
    kind = UsageError if exc.exit_code == ExitCode.USAGE else JobctlError
    return kind(text, f"see {command} --help", code=ExitCode(exc.exit_code))


class JobctlGroup(TyperGroup):
    """Turns JobctlError, click's parse errors and Redis trouble into a one-line message and the
    right exit code. Every group is one, so a subcommand's parse error meets `invoke` of its group,
    and the root's own options meet `make_context`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_values(self.params)  # the root's --redis-url, --home, ...
        take_plain_values(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # made on first use, so not among the params above
        take_plain_values([option] if option is not None else [])
        return option

    def list_commands(self, ctx: Any) -> list[str]:
        # the names alone: TyperGroup's reads items(), which builds every command of a lazy group
        # (jobctl.cli.app.LazyCommands)
        return list(self.commands)

    def make_context(self, info_name: str | None, args: list[str], parent=None, **extra: Any):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise  # a bare `jobctl enqueue` shows its help, as asked
        except ClickException as exc:
            command = " ".join(filter(None, (parent.command_path if parent else "", info_name)))
            render_error(from_click(exc, command), False, False)
            raise typer.Exit(exc.exit_code) from None

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, NoArgsIsHelpError):
            raise
        except ClickException as exc:
            # some parse errors do not say which command they are about: the one being invoked
            command = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            self._fail(ctx, from_click(exc, command))
        except JobctlError as exc:
            self._fail(ctx, exc)
        except redis.OutOfMemoryError:
            self._fail(ctx, _server_full(ctx))
        except redis.exceptions.NoPermissionError as exc:  # an ACL user short of a permission (NOPERM)
            self._fail(ctx, permission_refused(exc))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._fail(
                ctx,
                RedisUnavailable(
                    f"lost the connection to Redis: {exc}",
                    "check the server (jobctl server status) and try again",
                ),
            )
        except KeyboardInterrupt:
            sys.stderr.write("jobctl: interrupted\n")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
            self._fail(
                ctx,
                JobctlError(
                    f"unexpected {type(exc).__name__}: {exc}", "rerun with -v for the traceback and report it"
                ),
            )

    def _fail(self, ctx: typer.Context, exc: JobctlError) -> None:
        root = ctx.find_root()
        verbose = isinstance(root.obj, State) and root.obj.verbose
        render_error(exc, bool(ctx.meta.get(JSON_META)), verbose)
        raise typer.Exit(int(exc.code))


def _server_full(ctx: typer.Context) -> JobctlError:
    st = state(ctx)
    settings = st._settings  # loaded: a command reached Redis
    return server_full(st._connection, settings is not None and not settings.redis_url)


class JobctlTyper(typer.Typer):
    """A Typer whose commands are JobctlCommands (readable metavars in help)."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or JobctlCommand, **kwargs)


def new_app(help_text: str, cls: type[JobctlGroup] = JobctlGroup) -> typer.Typer:
    return JobctlTyper(
        cls=cls,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )


MAX_LISTED = 20  # ids named on stderr before "and N more"


def list_ids(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def exit_partial(message: str, *, nothing_done: bool) -> None:
    """A bulk operation where some ids failed: one line on stderr, exit 4 if nothing was done, else 1."""
    sys.stderr.write(f"jobctl: error: {message}\n")
    raise typer.Exit(int(ExitCode.NOT_FOUND if nothing_done else ExitCode.FAILED))


def confirm(question: str, yes: bool, as_json: bool = False) -> None:
    """Destructive operations: ask (default No) unless --yes; never prompt without a terminal."""
    if yes:
        return
    if as_json or not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation", "pass --yes to confirm non-interactively")
    if not typer.confirm(question, default=False):
        raise typer.Exit(ExitCode.FAILED)


def parse_key_values(pairs: list[str], what: str = "--data") -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} expects KEY=VALUE, got {pair!r}", f"e.g. {what} name=John")
        out[key.strip()] = value
    return out


def parse_json_object(text: str | None, what: str = "--data-json") -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON: {exc.msg} at position {exc.pos}",
            f"""e.g. {what} '{{"name": "John"}}'""",
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object", f"""e.g. {what} '{{"name": "John"}}'""")
    return value
