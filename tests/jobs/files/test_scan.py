"""Virus scanning: the builtin scanner (EICAR, SHA-256 blocklist) and clamd, fake and real.

The real-daemon tests use the `clamd` fixture (tests/jobs/files/conftest.py); they skip, with the reason,
where scripts/clamav_local.py could not install a local ClamAV daemon.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import tracemalloc
from pathlib import Path

import pytest

from jobctl.config import load_settings
from jobctl.errors import ConfigError, PermanentJobFailure, TransientJobFailure
from jobctl.jobs.files import scan
from jobctl.jobs.files.scan import EICAR, BuiltinScanner, ClamdScanner, ScanResult, load_blocklist, scan_file

ROOT = Path(__file__).resolve().parents[3]


def write(path: Path, *parts: bytes) -> Path:
    with open(path, "wb") as fh:
        for part in parts:
            fh.write(part)
    return path


def settings_for(tmp_path: Path, **env: str):
    return load_settings(environ=env, cwd=tmp_path)


# builtin


def test_the_eicar_constant_is_the_standard_test_file():
    assert len(EICAR) == 68
    sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    assert hashlib.sha256(EICAR).hexdigest() == sha256


def test_no_source_file_holds_the_eicar_string():
    """A developer's own virus scanner would quarantine it."""
    for folder in ("jobctl", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            assert EICAR not in path.read_bytes(), path


def test_eicar_at_the_start_is_found(tmp_path):
    result = BuiltinScanner().scan(write(tmp_path / "eicar.com", EICAR))
    assert result == ScanResult(False, "Eicar-Test-Signature", "builtin")
    assert result.as_dict() == {"clean": False, "signature": "Eicar-Test-Signature", "scanner": "builtin"}


def test_eicar_in_the_middle_of_a_large_file_is_found_without_reading_it_whole(tmp_path):
    filler = os.urandom(1024**2)
    path = write(tmp_path / "big.bin", *[filler] * 12, b"....", EICAR, b"....", *[filler] * 12)
    tracemalloc.start()
    try:
        result = BuiltinScanner().scan(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.signature == "Eicar-Test-Signature"
    assert peak < 4 * scan.CHUNK  # a chunk or two, not the 24 MB file


@pytest.mark.parametrize("before_boundary", [1, 2, 33, 34, 66, 67, 68, 0])
def test_eicar_split_across_a_chunk_boundary_is_found(tmp_path, before_boundary):
    path = write(tmp_path / "split.bin", b"x" * (scan.CHUNK - before_boundary), EICAR, b"y" * 100)
    assert BuiltinScanner().scan(path).signature == "Eicar-Test-Signature"


def test_eicar_is_found_at_every_offset_with_tiny_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK", 16)  # the string spans five chunks: the carried tail must be right
    for offset in range(0, 40):
        path = write(tmp_path / "f.bin", b"a" * offset, EICAR, b"b" * (offset % 7))
        assert BuiltinScanner().scan(path).signature == "Eicar-Test-Signature", offset


@pytest.mark.parametrize(
    "content", [b"", b"hello world\n", EICAR[:-1], EICAR[1:], EICAR.replace(b"EICAR", b"EICAX")]
)
def test_clean_files_are_clean(tmp_path, content):
    assert BuiltinScanner().scan(write(tmp_path / "clean.txt", content)) == ScanResult(True, None, "builtin")


def test_a_large_clean_file_is_clean(tmp_path):
    path = write(tmp_path / "big.bin", *[os.urandom(1024**2)] * 8)
    assert BuiltinScanner().scan(path).clean


def test_a_blocklisted_hash_is_found_and_named(tmp_path):
    bad, other = write(tmp_path / "bad.pdf", b"%PDF-1.4 known bad\n"), write(tmp_path / "other", b"other")
    bad_sha, other_sha = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (bad, other))
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text(
        "# hashes from the security team\n"
        "\n"
        f"   {bad_sha.upper()}   Fake-Invoice.PDF  dropper  # reported 2026-11-02\n"
        f"{other_sha}\n"
        f"{'0' * 64} # not ours\n"
    )
    scanner = BuiltinScanner(blocklist)
    assert scanner.scan(bad) == ScanResult(False, "blocklist:Fake-Invoice.PDF  dropper", "builtin")
    assert scanner.scan(other) == ScanResult(False, f"blocklist:{other_sha}", "builtin")
    assert scanner.scan(write(tmp_path / "fine", b"fine")).clean
    assert load_blocklist(blocklist) == {
        bad_sha: "Fake-Invoice.PDF  dropper",
        other_sha: None,
        "0" * 64: None,
    }


def test_eicar_wins_over_the_blocklist(tmp_path):
    path = write(tmp_path / "e", EICAR)
    blocklist = tmp_path / "b.txt"
    blocklist.write_text(f"{hashlib.sha256(EICAR).hexdigest()} listed\n")
    assert BuiltinScanner(blocklist).scan(path).signature == "Eicar-Test-Signature"


@pytest.mark.parametrize("line", ["abc123", "g" * 64, "a" * 63, "a" * 65, "sha256:" + "a" * 64])
def test_a_malformed_blocklist_is_a_config_error_naming_file_and_line(tmp_path, line):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text(f"# ok\n{'a' * 64} fine\n{line} name\n")
    with pytest.raises(ConfigError) as caught:
        BuiltinScanner(blocklist).scan(write(tmp_path / "f", b"x"))
    message = caught.value.message
    assert f"virus blocklist {blocklist} line 3" in message and "\n" not in message
    assert "JOBCTL_VIRUS_BLOCKLIST" in caught.value.hint


def test_a_missing_or_unreadable_blocklist_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read virus blocklist .*missing\.txt: No such file"):
        BuiltinScanner(tmp_path / "missing.txt").scan(write(tmp_path / "f", b"x"))
    with pytest.raises(ConfigError, match="cannot read virus blocklist"):
        BuiltinScanner(tmp_path).scan(tmp_path / "f")  # a directory
    binary = write(tmp_path / "bin.txt", b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        BuiltinScanner(binary).scan(tmp_path / "f")


def test_the_blocklist_is_parsed_once_until_the_file_changes(tmp_path):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text(f"{'a' * 64} first\n")
    first = load_blocklist(blocklist)
    assert load_blocklist(blocklist) is first
    stat = blocklist.stat()
    blocklist.write_text(f"{'b' * 64} second\n")  # same size: only the mtime tells
    os.utime(blocklist, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_blocklist(blocklist) == {"b" * 64: "second"}


def test_scan_file_uses_the_builtin_scanner_and_blocklist_from_settings(tmp_path):
    path = write(tmp_path / "f", b"listed content")
    blocklist = tmp_path / "b.txt"
    blocklist.write_text(f"{hashlib.sha256(b'listed content').hexdigest()} Listed\n")
    assert scan_file(settings_for(tmp_path), path) == ScanResult(True, None, "builtin")
    listed = scan_file(settings_for(tmp_path, JOBCTL_VIRUS_BLOCKLIST=str(blocklist)), path)
    assert listed == ScanResult(False, "blocklist:Listed", "builtin")


# clamd, without a daemon


def test_clamd_unreachable_is_transient(tmp_path):
    path = write(tmp_path / "f", b"x")
    scanner = ClamdScanner(str(tmp_path / "no-such.sock"), timeout=2)
    with pytest.raises(TransientJobFailure, match=r"cannot reach clamd at .*no-such\.sock") as caught:
        scanner.scan(path)
    assert caught.value.retryable and "\n" not in str(caught.value)
    assert scanner.ping() is False
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: the connection is refused
        with pytest.raises(TransientJobFailure, match=f"cannot reach clamd at 127.0.0.1:{port}"):
            ClamdScanner(f"127.0.0.1:{port}", timeout=2).scan(path)
    with pytest.raises(TransientJobFailure, match="cannot reach clamd"):
        scan_file(
            settings_for(
                tmp_path, JOBCTL_VIRUS_SCANNER="clamd", JOBCTL_CLAMD_ADDRESS=str(tmp_path / "no-such.sock")
            ),
            path,
        )


def test_clamd_that_never_answers_times_out_as_transient(tmp_path):
    sock_path = str(tmp_path / "silent.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(sock_path)
        server.listen(1)  # never accepts: the connection is queued and nothing is ever read or answered
        with pytest.raises(TransientJobFailure, match=r"did not answer within 0\.3s"):
            ClamdScanner(sock_path, timeout=0.3).version()


@pytest.mark.parametrize("address", ["clamd", "relative/clamd.sock", "localhost:", ":3310", "host:port"])
def test_a_bad_clamd_address_is_a_config_error(address):
    with pytest.raises(ConfigError, match=r"JOBCTL_CLAMD_ADDRESS|neither"):
        ClamdScanner(address)


def fake_clamd(sock_path: str, reply: bytes) -> threading.Thread:
    """Accept one INSTREAM, read it to the end as clamd does, send `reply`."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(sock_path)
    server.listen(1)

    def serve():
        with server, server.accept()[0] as conn:
            buffered = conn.makefile("rb")
            assert buffered.read(10) == b"zINSTREAM\0"
            while size := struct.unpack(">I", buffered.read(4))[0]:
                buffered.read(size)
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (b"stream: OK\0", ScanResult(True, None, "clamd")),
        (b"stream: Win.Test.Thing-1 FOUND\0", ScanResult(False, "Win.Test.Thing-1", "clamd")),
        (b"INSTREAM size limit exceeded. ERROR\0", PermanentJobFailure),
        (b"stream: Can't allocate memory ERROR\0", TransientJobFailure),
        (b"COMMAND READ TIMED OUT\0", TransientJobFailure),
        (b"", TransientJobFailure),
    ],
)
def test_clamd_replies_are_understood(tmp_path, reply, outcome):
    sock_path = str(tmp_path / "fake.sock")
    thread = fake_clamd(sock_path, reply)
    scanner = ClamdScanner(sock_path, timeout=5)
    path = write(tmp_path / "f", os.urandom(3 * scan.CHUNK + 5))
    if isinstance(outcome, ScanResult):
        assert scanner.scan(path) == outcome
    else:
        with pytest.raises(outcome) as caught:
            scanner.scan(path)
        assert "\n" not in str(caught.value)
        if outcome is PermanentJobFailure:
            assert "StreamMaxLength" in str(caught.value) and not caught.value.retryable
    thread.join(5)


# a real clamd


@pytest.fixture(params=["unix", "tcp"])
def real_clamd(request, clamd) -> ClamdScanner:
    return ClamdScanner(clamd.socket if request.param == "unix" else clamd.tcp, timeout=30)


def test_real_clamd_answers_ping_and_version(real_clamd):
    assert real_clamd.ping() is True
    assert real_clamd.version().startswith("ClamAV ")


def test_real_clamd_finds_its_signatures(real_clamd, clamd, tmp_path):
    for number, (signature, content) in enumerate(clamd.samples.items()):
        path = write(tmp_path / f"sample{number}", content)
        assert real_clamd.scan(path) == ScanResult(False, signature, "clamd")


def test_real_clamd_passes_a_clean_file(real_clamd, tmp_path):
    clean = write(tmp_path / "clean", b"nothing to see\n" * 1000)
    assert real_clamd.scan(clean) == ScanResult(True, None, "clamd")
    assert real_clamd.scan(write(tmp_path / "empty", b"")).clean


def test_real_clamd_finds_eicar_deep_in_a_streamed_file(clamd, tmp_path):
    half = clamd.stream_max // 2 - 200
    path = write(tmp_path / "deep.bin", os.urandom(half), EICAR, os.urandom(half))
    assert ClamdScanner(clamd.socket).scan(path).signature == "Jobctl.Test.Eicar.UNOFFICIAL"


def test_real_clamd_size_limit_is_permanent_and_names_the_setting(real_clamd, clamd, tmp_path):
    path = write(tmp_path / "big.bin", os.urandom(clamd.stream_max + 3 * scan.CHUNK))
    with pytest.raises(PermanentJobFailure, match=r"size limit exceeded.*StreamMaxLength"):
        real_clamd.scan(path)
    assert real_clamd.ping()  # the daemon is fine afterwards


def test_scan_file_uses_clamd_from_settings(clamd, tmp_path):
    settings = settings_for(tmp_path, JOBCTL_VIRUS_SCANNER="clamd", JOBCTL_CLAMD_ADDRESS=clamd.tcp)
    infected = write(tmp_path / "i", clamd.samples["Jobctl.Test.Marker.UNOFFICIAL"])
    assert scan_file(settings, infected) == ScanResult(False, "Jobctl.Test.Marker.UNOFFICIAL", "clamd")
    assert scan_file(settings, write(tmp_path / "c", b"clean")).clean
