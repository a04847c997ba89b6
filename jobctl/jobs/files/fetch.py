"""Bring an upload into the work area: a local path, file:// or http(s), never more than the limit.

Everything is streamed in chunks and hashed on the way, so a 100 MB upload costs 64 KB of memory
and a server that lies about Content-Length (or sends none) is cut off at the limit, not trusted.
Failures that a later attempt can fix (timeouts, 5xx, 429, refused connections) are transient;
the rest (404, too big, no such file) are permanent.

The fetch policy (jobctl.core.fetch_policy) is applied here again, whatever the enqueuer checked:
a source it refuses, and a download that got no answer at all, fail with the same "could not
fetch <url>"; why is written to the worker's log, for the operator, not into the job's error,
which the enqueuer reads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from jobctl.core import http_client
from jobctl.core.fetch_policy import FetchPolicy, Refused, could_not_fetch, safe_url
from jobctl.core.sizes import human_size
from jobctl.errors import PermanentJobFailure, TransientJobFailure

log = logging.getLogger(__name__)
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


def _could_not_fetch(url: str, reason: str, failure: type[Exception] = PermanentJobFailure) -> Exception:
    log.warning("could not fetch %s: %s", safe_url(url), reason)
    return failure(could_not_fetch(url))


def _open_nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _fetch_local(path: Path, work: Path, limit: int, policy: FetchPolicy) -> Fetched:
    try:
        real = policy.local_file(path)
        # the path was resolved just now; a symlink put in its place since is refused (ELOOP)
        with open(real, "rb", opener=_open_nofollow) as source:
            size = os.fstat(source.fileno()).st_size
            if size > limit:
                raise _too_big(size, limit)
            return _copy(iter(lambda: source.read(CHUNK), b""), work, limit)
    except Refused as exc:
        raise _could_not_fetch(str(path), exc.reason) from None
    except FileNotFoundError:
        raise PermanentJobFailure(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PermanentJobFailure(f"{path} is a folder, not a file") from None
    except PermissionError:
        raise PermanentJobFailure(f"the worker may not read {path}") from None
    except OSError as exc:  # ELOOP: the last part became a symlink after it was resolved
        raise _could_not_fetch(str(path), f"cannot open it: {exc.strerror}") from None


def _fetch_http(url: str, work: Path, limit: int, timeout: float, policy: FetchPolicy) -> Fetched:
    # identity: ask for the file as stored, so size and hash are the file's. A server that compresses
    # anyway is decoded by iter_bytes, and the limit counts the decoded bytes: no zip bomb gets past it.
    try:
        with http_client.fetch(
            url, policy=policy, headers={"Accept-Encoding": "identity"}, timeout=timeout
        ) as response:
            if not 200 <= response.status_code < 300:
                raise _status_failure(url, response.status_code, response.reason_phrase)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_big(int(declared), limit)
            return _copy(response.iter_bytes(CHUNK), work, limit)
    except Refused as exc:
        raise _could_not_fetch(url, exc.reason) from None
    except http_client.TimedOut as exc:
        raise _could_not_fetch(
            url, f"timed out after {timeout:g} s ({exc.kind})", TransientJobFailure
        ) from None
    except (http_client.Unreachable, http_client.BrokenOff) as exc:
        raise _could_not_fetch(url, f"{exc.kind}: {exc.reason}", TransientJobFailure) from None
    except http_client.Unsendable as exc:
        raise _could_not_fetch(url, f"{exc.kind}: {exc.reason}") from None


def _status_failure(url: str, status: int, reason: str) -> PermanentJobFailure | TransientJobFailure:
    message = f"download of {safe_url(url)} answered HTTP {status} {reason}"
    if status in RETRYABLE_STATUS:
        return TransientJobFailure(message)
    return PermanentJobFailure(message)


def fetch(url: str, work: Path, *, limit: int, timeout: float, policy: FetchPolicy) -> Fetched:
    path = local_path(url)
    if path is not None:
        return _fetch_local(path, work, limit, policy)
    return _fetch_http(url, work, limit, timeout, policy)
