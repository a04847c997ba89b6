"""Bring an upload into the work area: a local path, file:// or http(s), never more than the limit.

Everything is streamed in chunks and hashed on the way, so a 100 MB upload costs 64 KB of memory
and a server that lies about Content-Length (or sends none) is cut off at the limit, not trusted.
Failures that a later attempt can fix (timeouts, 5xx, 429, refused connections) are transient;
the rest (404, too big, no such file) are permanent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from jobctl.core import http_client
from jobctl.core.sizes import human_size
from jobctl.errors import PermanentJobFailure, TransientJobFailure

CHUNK = 64 * 1024
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str


def local_path(url: str) -> Path | None:
    """The path a local source names (plain path or file://), or None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    return Path(url)


def _too_big(size: int, limit: int) -> PermanentJobFailure:
    return PermanentJobFailure(f"file is {human_size(size)}; MAX_FILE_SIZE is {human_size(limit)}")


def _copy(chunks: Iterable[bytes], work: Path, limit: int) -> Fetched:
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=work, prefix="fetch-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PermanentJobFailure(
                        f"file is larger than MAX_FILE_SIZE ({human_size(limit)}); "
                        f"stopped reading after {human_size(size)}"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Fetched(Path(name), size, digest.hexdigest())


def _fetch_local(path: Path, work: Path, limit: int) -> Fetched:
    try:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            if size > limit:
                raise _too_big(size, limit)
            return _copy(iter(lambda: source.read(CHUNK), b""), work, limit)
    except FileNotFoundError:
        raise PermanentJobFailure(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PermanentJobFailure(f"{path} is a folder, not a file") from None
    except PermissionError:
        raise PermanentJobFailure(f"the worker may not read {path}") from None


def _fetch_http(url: str, work: Path, limit: int, timeout: float) -> Fetched:
    # identity: ask for the file as stored, so size and hash are the file's. A server that compresses
    # anyway is decoded by iter_bytes, and the limit counts the decoded bytes: no zip bomb gets past it.
    try:
        with http_client.stream(
            "GET", url, headers={"Accept-Encoding": "identity"}, timeout=timeout, follow_redirects=True
        ) as response:
            if not 200 <= response.status_code < 300:
                raise _status_failure(url, response.status_code, response.reason_phrase)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_big(int(declared), limit)
            return _copy(response.iter_bytes(CHUNK), work, limit)
    except http_client.TimedOut:
        raise TransientJobFailure(f"download of {safe(url)} timed out after {timeout:g} s") from None
    except http_client.Unreachable as exc:
        raise TransientJobFailure(f"cannot download {safe(url)}: {exc.reason}") from None
    except http_client.BrokenOff as exc:
        raise TransientJobFailure(f"download of {safe(url)} broke off: {exc.kind}: {exc.reason}") from None
    except http_client.Unsendable as exc:
        raise PermanentJobFailure(f"cannot download {safe(url)}: {exc.reason}") from None


def _status_failure(url: str, status: int, reason: str) -> PermanentJobFailure | TransientJobFailure:
    message = f"download of {safe(url)} answered HTTP {status} {reason}"
    if status in RETRYABLE_STATUS:
        return TransientJobFailure(message)
    return PermanentJobFailure(message)


def safe(url: str) -> str:
    """The URL without credentials or query (signed URLs carry their secret in the query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host, query="", fragment="").geturl()


def fetch(url: str, work: Path, *, limit: int, timeout: float) -> Fetched:
    path = local_path(url)
    if path is not None:
        return _fetch_local(path, work, limit)
    return _fetch_http(url, work, limit, timeout)
