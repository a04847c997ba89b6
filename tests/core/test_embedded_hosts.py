"""The embedded server belongs to one host: another host (JOBCTL_HOSTNAME) sharing its state folder, or
naming its socket in a unix:// REDIS_URL, is refused with exit 2 and nothing started."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from jobctl.config import load_settings
from jobctl.core import embedded
from jobctl.core.connection import connect
from jobctl.errors import ConfigError, ExitCode


@pytest.fixture
def home():
    base = tempfile.mkdtemp(prefix="jt-", dir="/tmp")  # short: the socket stays in the home itself
    home = Path(base) / "home"
    try:
        yield home
    finally:
        try:
            embedded.stop(home)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def settings_on(monkeypatch, home: Path, host: str, redis_url: str = ""):
    monkeypatch.setenv("JOBCTL_HOME", str(home))
    monkeypatch.setenv("JOBCTL_HOSTNAME", host)
    if redis_url:
        monkeypatch.setenv("REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    return load_settings()


def test_a_server_started_on_one_host_is_refused_to_another(monkeypatch, home):
    client = connect(settings_on(monkeypatch, home, "host-a"))
    assert client.ping()
    client.close()
    assert (home / embedded.HOST_FILE).read_text().strip() == "host-a"

    for redis_url in ("", f"unix://{embedded.paths(home).socket}"):
        with pytest.raises(ConfigError) as refused:
            connect(settings_on(monkeypatch, home, "host-b", redis_url))
        message = refused.value.message
        assert "belongs to host host-a" in message and "this is host-b" in message, message
        assert "socket is local" in message and refused.value.code == ExitCode.USAGE
        assert "REDIS_URL" in (refused.value.hint or "")

    # the same host goes on using it; once it is stopped, another host may take the folder over
    connect(settings_on(monkeypatch, home, "host-a")).close()
    assert embedded.stop(home)
    connect(settings_on(monkeypatch, home, "host-b")).close()
    assert (home / embedded.HOST_FILE).read_text().strip() == "host-b"


def test_a_state_folder_shared_with_another_host_starts_nothing(monkeypatch, home, cli):
    """As over NFS: the folder says host-a's server runs (its pidfile); host-b must not start a second
    server on the same data files."""
    home.mkdir(parents=True)
    (home / embedded.HOST_FILE).write_text("host-a\n")
    (home / "valkey.pid").write_text("999999\n")  # a pid on that other machine
    settings_on(monkeypatch, home, "host-b")
    result = cli("stats", code=2)
    assert "belongs to host host-a" in result.stderr and "hint:" in result.stderr.lower()
    assert not embedded.paths(home).socket.exists() and not (home / "valkey.conf").exists()
    assert cli("server", "start", code=2).stderr.count("belongs to host host-a") == 1


def test_checks_leave_other_sockets_alone(home):
    # no record of a host (a server started by something else, or a Redis socket): nothing to judge
    embedded.check_socket_host(Path("/run/redis/redis.sock"), "host-b")
    home.mkdir(parents=True)
    (home / embedded.HOST_FILE).write_text("host-a\n")
    embedded.check_host(home, "host-b")  # no pidfile: that server was stopped
    embedded.check_host(home, "host-a")
