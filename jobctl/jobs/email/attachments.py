"""Attachments: read and size-check files for the payload, decode them again in the worker."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from jobctl.core.sizes import human_size
from jobctl.errors import UsageError

_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    def to_payload(self) -> dict[str, str]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "content_b64": base64.b64encode(self.content).decode("ascii"),
        }


def sendable_type(content_type: str) -> str:
    """message/* parts may not be base64-encoded (RFC 2046), so such files go as plain bytes."""
    content_type = content_type.lower()
    return DEFAULT_TYPE if content_type.startswith("message/") else content_type


def guess_type(filename: str) -> str:
    kind, encoding = mimetypes.guess_type(filename, strict=False)
    if not kind or encoding:  # .tar.gz etc.: send the bytes as they are
        return DEFAULT_TYPE
    return sendable_type(kind)


def read_attachment(path: str | Path, limit: int) -> Attachment:
    """Read one file; UsageError names the file when it is missing, unreadable or too big."""
    file = Path(path).expanduser()
    if not file.exists():
        raise UsageError(f"attachment {str(path)!r} does not exist", "check the path of --attach")
    if not file.is_file():
        raise UsageError(f"attachment {str(path)!r} is not a regular file", "attach files, not folders")
    size = file.stat().st_size
    if size > limit:
        raise UsageError(
            f"attachment {file.name!r} is {human_size(size)} ({size} bytes); "
            f"the limit is {human_size(limit)} ({limit} bytes)",
            "send a link instead, or raise JOBCTL_MAX_ATTACHMENT_SIZE",
        )
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read attachment {str(path)!r}: {exc.strerror}", "check its permissions"
        ) from None
    if len(content) > limit:  # grew while we looked
        raise UsageError(
            f"attachment {file.name!r} is larger than the limit of {limit} bytes",
            "send a link instead, or raise JOBCTL_MAX_ATTACHMENT_SIZE",
        )
    return Attachment(file.name, guess_type(file.name), content)


def clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if ord(c) >= 32 and ord(c) != 127).strip()
    return name or "attachment"


def attachment_from_payload(raw: object, index: int) -> Attachment:
    """The inverse of Attachment.to_payload; UsageError when the queued data is malformed."""
    if not isinstance(raw, dict):
        raise UsageError(
            f"attachment {index} is not an object", "rebuild the payload with prepare_email_payload"
        )
    filename, b64 = raw.get("filename"), raw.get("content_b64")
    content_type = raw.get("content_type") or DEFAULT_TYPE
    if not isinstance(filename, str) or not isinstance(b64, str) or not isinstance(content_type, str):
        raise UsageError(
            f"attachment {index} needs string filename and content_b64",
            "rebuild the payload with prepare_email_payload",
        )
    if not _CONTENT_TYPE_RE.fullmatch(content_type):
        raise UsageError(
            f"attachment {filename!r} has an invalid content type {content_type!r}",
            "use a MIME type such as application/pdf",
        )
    try:
        content = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"attachment {filename!r} is not valid base64", "rebuild the payload") from None
    return Attachment(clean_filename(filename), sendable_type(content_type), content)
