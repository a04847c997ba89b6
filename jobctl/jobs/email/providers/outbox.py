"""Provider `outbox`: each message becomes <home>/outbox/<UTC timestamp>-<hash>.eml, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from jobctl.errors import PermanentJobFailure, TransientJobFailure


def outbox_dir(settings) -> Path:
    return settings.home_path / "outbox"


def send(message: EmailMessage, settings) -> dict:
    message_id = str(message["Message-ID"])
    folder = outbox_dir(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:12]
    target = folder / f"{stamp}-{digest}.eml"
    data = message.as_bytes()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{digest}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except PermissionError as exc:
        raise PermanentJobFailure(f"cannot write to outbox {folder}: {exc.strerror}") from None
    except OSError as exc:  # disk full, transient I/O trouble
        raise TransientJobFailure(f"cannot write to outbox {folder}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return {"provider": "outbox", "message_id": message_id, "path": str(target)}
