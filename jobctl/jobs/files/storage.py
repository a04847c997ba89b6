"""The storage folder: outputs named by content hash, a work area for downloads, a quarantine.

Layout under JOBCTL_STORAGE_DIR (default: storage/ in the state folder):
    ab/abcdef...0123.webp   outputs, two-character fan-out so no folder grows huge
    tmp/                    downloads being checked; removed when the job ends
    quarantine/<sha256>     infected uploads (mode 0600) with <sha256>.json saying why

Naming by hash makes a re-run idempotent: the same input and options give the same names, and
writing an existing name is skipped. Writes are atomic (jobctl.core.atomic).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobctl.core.atomic import write_atomic


@dataclass(frozen=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def work_dir(storage: Path) -> Path:
    return _private_dir(storage / "tmp")


def quarantine_dir(storage: Path) -> Path:
    return _private_dir(storage / "quarantine")


def put(storage: Path, data: bytes, extension: str) -> StoredFile:
    digest = hashlib.sha256(data).hexdigest()
    final = storage / digest[:2] / f"{digest}.{extension}"
    if not final.exists():
        write_atomic(final, data)
    return StoredFile(final, digest, len(data))


def quarantine(storage: Path, source: Path, sha256: str, info: dict[str, Any]) -> Path:
    """Move an infected file out of reach: no read bits for others, never served, never processed."""
    folder = quarantine_dir(storage)
    target = folder / sha256
    shutil.move(str(source), target)
    os.chmod(target, 0o600)
    sidecar = folder / f"{sha256}.json"
    sidecar.write_text(json.dumps(info, indent=2, default=str) + "\n")
    os.chmod(sidecar, 0o600)
    return target
