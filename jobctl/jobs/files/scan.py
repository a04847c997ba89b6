"""Virus scanning: every upload is scanned before anything parses it, so malware is caught whatever it
claims to be.

Two backends give the same ScanResult. `builtin` needs nothing installed: it knows the EICAR test file (so
the whole quarantine-and-alert path can be tried on any machine) and a SHA-256 blocklist of files the
admin has been warned about. `clamd` hands the bytes to a real ClamAV daemon over its socket.

A scan that could not run is never a clean result: an unreachable or failing daemon raises
TransientJobFailure so the job is retried later; a bad blocklist is the admin's to fix (ConfigError).
Files are streamed in chunks, so a 100 MB upload costs about one chunk of memory.
"""

from __future__ import annotations

import functools
import hashlib
import re
import select
import socket
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from jobctl.errors import ConfigError, PermanentJobFailure, TransientJobFailure

CHUNK = 1024 * 1024

# Kept reversed: the plain EICAR string in our source would make a developer's own virus scanner
# quarantine this file.
EICAR = b"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"[::-1]
EICAR_SIGNATURE = "Eicar-Test-Signature"  # ClamAV's name for it, so both backends report the same

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BLOCKLIST_HINT = (
    "one SHA-256 hash (64 hex digits) per line, optionally followed by a name; "
    "# starts a comment; fix the file or JOBCTL_VIRUS_BLOCKLIST"
)


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str | None  # "Eicar-Test-Signature", "blocklist:<name or sha256>", or clamd's name
    scanner: str  # "builtin" or "clamd"

    def as_dict(self) -> dict:
        """Plain data for the job result, which RQ stores as JSON."""
        return asdict(self)


def scan_file(settings, path: Path) -> ScanResult:
    """Scan with the backend JOBCTL_VIRUS_SCANNER names."""
    if settings.virus_scanner == "clamd":
        return ClamdScanner(settings.clamd_address, settings.clamd_timeout).scan(path)
    blocklist = Path(settings.virus_blocklist).expanduser() if settings.virus_blocklist else None
    return BuiltinScanner(blocklist).scan(path)


class BuiltinScanner:
    """EICAR anywhere in the content, or a SHA-256 on the blocklist."""

    def __init__(self, blocklist_path: Path | None = None):
        self.blocklist_path = blocklist_path

    def scan(self, path: Path) -> ScanResult:
        # the blocklist is read first so a broken one fails every job, not only the first unclean file
        blocklist = load_blocklist(self.blocklist_path) if self.blocklist_path else {}
        digest = hashlib.sha256()
        tail = b""  # the last len(EICAR)-1 bytes, so a string split across two chunks is still found
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                window = tail + chunk
                if EICAR in window:
                    return ScanResult(False, EICAR_SIGNATURE, "builtin")
                tail = window[-(len(EICAR) - 1) :]
                digest.update(chunk)
        sha256 = digest.hexdigest()
        if sha256 in blocklist:
            return ScanResult(False, f"blocklist:{blocklist[sha256] or sha256}", "builtin")
        return ScanResult(True, None, "builtin")


def load_blocklist(path: Path) -> Mapping[str, str | None]:
    """sha256 -> name (or None); re-read only when the file's mtime or size changes."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read virus blocklist {path}: {exc.strerror}", _BLOCKLIST_HINT) from None
    return _parse_blocklist(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parse_blocklist(path: str, mtime_ns: int, size: int) -> Mapping[str, str | None]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read virus blocklist {path}: {exc.strerror}", _BLOCKLIST_HINT) from None
    except UnicodeDecodeError:
        raise ConfigError(f"virus blocklist {path} is not UTF-8 text", _BLOCKLIST_HINT) from None
    entries: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split(None, 1)
        if not fields:
            continue
        if not _SHA256.fullmatch(fields[0]):
            raise ConfigError(
                f"virus blocklist {path} line {number}: {fields[0][:80]!r} is not a SHA-256 hash",
                _BLOCKLIST_HINT,
            )
        entries[fields[0].lower()] = fields[1].strip() if len(fields) > 1 else None
    return MappingProxyType(entries)


class ClamdScanner:
    """A ClamAV daemon, spoken to directly (INSTREAM), so jobctl needs no ClamAV library.

    `timeout` bounds connecting and each wait for the daemon, including the verdict after the last byte.
    """

    def __init__(self, address: str, timeout: float = 30):
        host, sep, port = address.rpartition(":")
        if not address.startswith("/") and not (sep and host and port.isdigit()):
            raise ConfigError(
                f"clamd address {address!r} is neither an absolute socket path nor host:port",
                "fix JOBCTL_CLAMD_ADDRESS",
            )
        self.address = address
        self.timeout = timeout

    def ping(self) -> bool:
        """True when the daemon answers; for health checks, which want a yes or no rather than an error."""
        try:
            return self._command(b"PING") == "PONG"
        except TransientJobFailure:
            return False

    def version(self) -> str:
        return self._command(b"VERSION")

    def scan(self, path: Path) -> ScanResult:
        with open(path, "rb") as fh:
            reply = self._command(b"INSTREAM", fh)
        verdict = reply.removeprefix("stream:").strip()
        if verdict == "OK":
            return ScanResult(True, None, "clamd")
        if verdict.endswith(" FOUND"):
            return ScanResult(False, verdict.removesuffix(" FOUND").strip(), "clamd")
        if "size limit exceeded" in verdict:
            raise PermanentJobFailure(
                f"the file is larger than clamd at {self.address} accepts ({verdict}); "
                "raise StreamMaxLength in clamd.conf to at least MAX_FILE_SIZE"
            )
        if verdict.endswith("ERROR"):
            raise TransientJobFailure(f"clamd at {self.address} could not scan the file: {verdict}")
        raise TransientJobFailure(f"unexpected reply from clamd at {self.address}: {reply[:200]!r}")

    def _connect(self) -> socket.socket:
        try:
            if self.address.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
                return sock
            host, _, port = self.address.rpartition(":")
            return socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        except TimeoutError:
            raise TransientJobFailure(
                f"clamd at {self.address} did not accept a connection within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise TransientJobFailure(
                f"cannot reach clamd at {self.address}: {exc.strerror or exc}"
            ) from None

    def _command(self, command: bytes, stream: BinaryIO | None = None) -> str:
        """Send one z-command (NUL-terminated), stream the file if given, and return the reply."""
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + command + b"\0")
                if stream is not None:
                    self._send_stream(sock, stream)
                reply = _read_reply(sock)
            except TimeoutError:
                raise TransientJobFailure(
                    f"clamd at {self.address} did not answer within {self.timeout:g}s"
                ) from None
            except OSError as exc:
                raise TransientJobFailure(
                    f"lost the connection to clamd at {self.address}: {exc.strerror or exc}"
                ) from None
        if not reply:
            raise TransientJobFailure(f"clamd at {self.address} closed the connection without a reply")
        return reply

    @staticmethod
    def _send_stream(sock: socket.socket, stream: BinaryIO) -> None:
        try:
            while chunk := stream.read(CHUNK):
                sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                if select.select([sock], [], [], 0)[0]:
                    return  # clamd answered early (size limit): it reads no more, the reply says why
            sock.sendall(struct.pack(">I", 0))
        except (BrokenPipeError, ConnectionResetError):
            return  # clamd hung up mid-stream; its reply, if it sent one, is still readable


def _read_reply(sock: socket.socket, limit: int = 64 * 1024) -> str:
    data = b""
    while not data.endswith(b"\0") and len(data) < limit:
        try:
            part = sock.recv(4096)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()
