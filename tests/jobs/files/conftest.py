"""Fixtures for tests/jobs/files.

clamd: a real ClamAV daemon from .venv/clamav (scripts/clamav_local.py, run by `python3 dev.py test`)
with a small signature database written here, since freshclam cannot run offline. Skips, with the
installer's reason, where no local clamd could be installed.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLAMD_START_TIMEOUT = 60  # seconds; loading even a tiny database can take a few
CLAMD_STREAM_MAX = 2 * 1024**2  # small, so the size-limit reply is cheap to provoke


@dataclass(frozen=True)
class Clamd:
    socket: str  # unix socket path
    tcp: str  # 127.0.0.1:port, the same daemon
    stream_max: int
    samples: dict[str, bytes] = field(default_factory=dict)  # name clamd reports -> content that trips it


def _clamav_local():
    path = Path(__file__).resolve().parents[3] / "scripts" / "clamav_local.py"
    spec = importlib.util.spec_from_file_location("clamav_local", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"zPING\0")
            return sock.recv(16) == b"PONG\0"
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd(tmp_path_factory) -> Iterator[Clamd]:
    """A clamd on a unix socket and on TCP, knowing only the signatures in `samples` (plus its own)."""
    import hashlib

    from jobctl.jobs.files.scan import EICAR

    local = _clamav_local()
    reason = local.unavailable_reason()
    if reason:
        pytest.skip(reason)
    run = tmp_path_factory.mktemp("clamd")
    database = run / "db"
    database.mkdir()
    marker = b"JOBCTL-TEST-MALWARE-MARKER"
    hashed = b"a file only known by its SHA-256\n"
    samples = {
        "Jobctl.Test.Eicar.UNOFFICIAL": b"some text before " + EICAR + b" and after",
        "Jobctl.Test.Marker.UNOFFICIAL": b"\x00" * 5000 + marker + b"\x00" * 5000,
        "Jobctl.Test.Hashed.UNOFFICIAL": hashed,
    }
    # the hex is built here, so no file in the repo holds a signature a real scanner would match
    (database / "jobctl-test.ndb").write_text(
        f"Jobctl.Test.Eicar:0:*:{EICAR.hex()}\nJobctl.Test.Marker:0:*:{marker.hex()}\n"
    )
    digest = hashlib.sha256(hashed).hexdigest()
    (database / "jobctl-test.hsb").write_text(f"{digest}:{len(hashed)}:Jobctl.Test.Hashed\n")
    sock, port = run / "clamd.sock", _free_port()
    conf = run / "clamd.conf"
    conf.write_text(
        f"Foreground yes\nLocalSocket {sock}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n"
        f"DatabaseDirectory {database}\nTemporaryDirectory {run}\nPidFile {run / 'clamd.pid'}\n"
        f"StreamMaxLength {CLAMD_STREAM_MAX}\n"
    )
    log = run / "clamd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(local.clamd_path()), f"--config-file={conf}"],
            env=local.clamd_environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + CLAMD_START_TIMEOUT
        while not _ping(str(sock)):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "did not answer PING"
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                pytest.fail(f"clamd {state} within {CLAMD_START_TIMEOUT}s: {' | '.join(tail)}")
            time.sleep(0.05)
        yield Clamd(str(sock), f"127.0.0.1:{port}", CLAMD_STREAM_MAX, samples)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
