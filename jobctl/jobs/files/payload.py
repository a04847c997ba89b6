"""The file job's payload: validated where it is enqueued, read back in the worker.

Schema (JSON): {"file_id", "file_url", "file_name", "file_type" (MIME), "file_size" (bytes, 0 if
unknown), "user_id", "product_id" (or null), "processing_type", "options": {...}}

Options by processing type (strings such as "true" or "300x300" are accepted, for the CLI):
    thumbnail       sizes ("150x150,300x300", default JOBCTL_THUMBNAIL_SIZES), format (jpeg/png/webp/avif)
    format_convert  target (required), quality
    image_optimize  quality
    process         generate_thumbnail, optimize_image, scan_for_viruses (booleans, default true),
                    sizes, format, quality
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from jobctl.config import parse_bool, parse_sizes
from jobctl.core.contracts import BuildContext, Contract, Field, split_scheduler_keys
from jobctl.core.fetch_policy import HINT as POLICY_HINT
from jobctl.core.fetch_policy import FetchPolicy, Refused, could_not_fetch
from jobctl.core.sizes import human_size
from jobctl.errors import UsageError
from jobctl.jobs.files.fetch import local_path
from jobctl.jobs.files.filetypes import normalize_type

PROCESSING_TYPES = ("virus_scan", "validate", "image_optimize", "thumbnail", "format_convert", "process")
IMAGE_PROCESSING = ("image_optimize", "thumbnail", "format_convert")
TARGET_FORMATS = ("jpeg", "png", "webp", "avif", "gif")
OPTIONS: dict[str, tuple[str, ...]] = {
    "virus_scan": (),
    "validate": (),
    "image_optimize": ("quality",),
    "thumbnail": ("sizes", "format"),
    "format_convert": ("target", "quality"),
    "process": ("generate_thumbnail", "optimize_image", "scan_for_viruses", "sizes", "format", "quality"),
}
MAX_ID = 200
REBUILD = "build the payload with jobctl.jobs.files.prepare_file_payload"


@dataclass(frozen=True)
class FileRequest:
    file_id: str
    file_url: str
    file_name: str
    file_type: str
    file_size: int
    user_id: str
    processing_type: str
    product_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def as_payload(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_url": self.file_url,
            "file_name": self.file_name,
            "file_type": self.file_type,
            "file_size": self.file_size,
            "user_id": self.user_id,
            "product_id": self.product_id,
            "processing_type": self.processing_type,
            "options": self.options,
        }


@overload
def _identifier(value: Any, name: str, *, required: Literal[True] = True) -> str: ...
@overload
def _identifier(value: Any, name: str, *, required: bool) -> str | None: ...
def _identifier(value: Any, name: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise UsageError(f"{name} is required", f"pass {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UsageError(
            f"{name} must be a string or integer, got {type(value).__name__}", f"pass {name} as text"
        )
    text = str(value).strip()
    if not text or len(text) > MAX_ID or any(ord(c) < 32 for c in text):
        raise UsageError(f"{name} {value!r} must be 1-{MAX_ID} printable characters", f"fix {name}")
    return text


def _url(value: Any, policy: FetchPolicy) -> str:
    """The source checked against the fetch policy as far as it can be here (the worker checks again,
    with DNS); a refused one gets the same words whatever the reason, see jobctl.core.fetch_policy."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError("file_url is required", "pass a path, file:// URL or http(s):// URL")
    value = value.strip()
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        raise UsageError(could_not_fetch(value), POLICY_HINT) from None
    if scheme in ("http", "https"):
        if not urlsplit(value).hostname:
            raise UsageError(
                f"file_url {value!r} has no host", "pass a full URL such as https://cdn.example/a.jpg"
            )
        try:
            policy.check_url(value)
        except Refused:
            raise UsageError(could_not_fetch(value), POLICY_HINT) from None
        return value
    if scheme not in ("", "file") and len(scheme) > 1:  # one letter: a Windows drive, not a scheme
        raise UsageError(
            f"file_url scheme {scheme}:// is not supported", "use a path, file://, http:// or https://"
        )
    path = local_path(value)
    assert path is not None  # http(s) returned above
    if not path.is_absolute():
        path = path.resolve()  # the worker's working folder is not the caller's
    try:
        real = policy.local_file(path)
    except Refused:
        raise UsageError(could_not_fetch(str(path)), POLICY_HINT) from None
    except FileNotFoundError:
        real = None
    if real is None or not real.is_file():
        raise UsageError(f"no such file: {path}", "check the path; workers read it from the same place")
    return str(path)


def _size(value: Any, limit: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(
            f"file_size must be a whole number of bytes, got {value!r}", "pass the upload's size"
        )
    if value > limit:
        raise UsageError(
            f"file is {human_size(value)}; MAX_FILE_SIZE is {human_size(limit)}",
            "reject the upload, or raise MAX_FILE_SIZE",
        )
    return value


def _boolean(value: Any, name: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError:
        raise UsageError(
            f"option {name} must be true or false, got {value!r}", f"pass {name}=true or {name}=false"
        ) from None


def _quality(value: Any) -> int:
    try:
        quality = int(value)
    except (TypeError, ValueError):
        quality = 0
    if isinstance(value, bool) or not 1 <= quality <= 100:
        raise UsageError(
            f"option quality must be a whole number from 1 to 100, got {value!r}", "pass quality=82"
        )
    return quality


def _format(value: Any, name: str) -> str:
    text = str(value).strip().lower()
    text = {"jpg": "jpeg"}.get(text, text)
    if text not in TARGET_FORMATS:
        raise UsageError(
            f"option {name} {value!r} is not an output format", f"use one of {', '.join(TARGET_FORMATS)}"
        )
    return text


def _sizes(value: Any) -> list[list[int]]:
    raw = (
        value
        if isinstance(value, str)
        else [s if isinstance(s, str) else "x".join(map(str, s)) for s in value]
    )
    try:
        return [list(size) for size in parse_sizes(raw)]
    except (ValueError, TypeError) as exc:
        raise UsageError(f"option sizes: {exc}", "pass sizes=150x150,300x300") from None


def _options(processing: str, options: Any) -> dict[str, Any]:
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise UsageError(
            f"options must be an object, got {type(options).__name__}", "pass options as name=value"
        )
    allowed = OPTIONS[processing]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = f"its options are {', '.join(allowed)}" if allowed else "it takes no options"
        raise UsageError(f"processing type {processing} has no option {', '.join(map(str, unknown))}", known)
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name in ("generate_thumbnail", "optimize_image", "scan_for_viruses"):
            checked[name] = _boolean(value, name)
        elif name == "quality":
            checked[name] = _quality(value)
        elif name in ("format", "target"):
            checked[name] = _format(value, name)
        elif name == "sizes":
            checked[name] = _sizes(value)
    if processing == "format_convert" and "target" not in checked:
        raise UsageError(
            "format_convert needs a target format", f"pass target= one of {', '.join(TARGET_FORMATS)}"
        )
    return checked


def prepare_file_payload(
    settings,
    *,
    file_id: Any,
    file_url: Any,
    file_name: Any,
    file_type: Any,
    file_size: Any,
    user_id: Any,
    processing_type: Any,
    product_id: Any = None,
    options: Any = None,
) -> dict[str, Any]:
    """Check a request against the settings and return the payload to enqueue (raises UsageError)."""
    if processing_type not in PROCESSING_TYPES:
        raise UsageError(
            f"unknown processing type {processing_type!r}", f"use one of {', '.join(PROCESSING_TYPES)}"
        )
    if not isinstance(file_type, str):
        raise UsageError("file_type is required", "pass a MIME type such as image/jpeg")
    mime = normalize_type(file_type)
    if mime not in settings.allowed_file_types:
        raise UsageError(
            f"file type {mime} is not accepted",
            f"ALLOWED_FILE_TYPES is {', '.join(settings.allowed_file_types)}",
        )
    url = _url(file_url, FetchPolicy.from_settings(settings))
    name = _identifier(file_name, "file_name", required=False) or Path(urlsplit(url).path).name or "upload"
    request = FileRequest(
        file_id=_identifier(file_id, "file_id"),
        file_url=url,
        file_name=Path(name).name,
        file_type=mime,
        file_size=_size(file_size, settings.max_file_size),
        user_id=_identifier(user_id, "user_id"),
        product_id=_identifier(product_id, "product_id", required=False),
        processing_type=processing_type,
        options=_options(processing_type, options),
    )
    return request.as_payload()


def load_file_payload(payload: Any) -> FileRequest:
    """The worker's side: the payload as the enqueuer built it, or UsageError if it was tampered with."""
    if not isinstance(payload, dict):
        raise UsageError("file payload must be a JSON object", REBUILD)
    payload, _ = split_scheduler_keys(payload)
    try:
        request = FileRequest(**payload)
    except TypeError as exc:
        raise UsageError(f"file payload has the wrong fields: {exc}", REBUILD) from None
    if request.processing_type not in PROCESSING_TYPES or not isinstance(request.options, dict):
        raise UsageError(f"file payload has processing type {request.processing_type!r}", REBUILD)
    return request


def local_size(url: Any, policy: FetchPolicy) -> int:
    """The size of a local source, so the worker can tell if the file changed before it ran; 0 for URLs
    and for paths the policy refuses (never looked at: prepare_file_payload refuses them)."""
    path = local_path(url.strip()) if isinstance(url, str) and url.strip() else None
    if path is None:
        return 0
    try:
        real = policy.local_file(path.resolve() if not path.is_absolute() else path)
    except (Refused, OSError):
        return 0
    return real.stat().st_size if real.is_file() else 0


def _build(settings, fields: dict[str, Any], _context: BuildContext) -> dict[str, Any]:
    fields = {"file_name": None, "processing_type": "process", **fields}
    if fields.get("file_size") is None:
        fields["file_size"] = local_size(fields.get("file_url"), FetchPolicy.from_settings(settings))
    return prepare_file_payload(settings, **fields)


CONTRACT = Contract(
    "file",
    (
        Field("file_id", "text", True, "the upload's id"),
        Field("file_url", "text", True, "a path, file:// or http(s):// URL the workers can read"),
        Field(
            "file_type", "text", True, "declared MIME type (or jpg, png, ...), checked against the content"
        ),
        Field("user_id", "text", True, "who uploaded it"),
        Field("processing_type", "text", False, f"{', '.join(PROCESSING_TYPES)} (default process)"),
        Field("file_name", "text", False, "default: the URL's last part"),
        Field(
            "file_size", "int", False, "declared size in bytes (default: a local file's size, else unknown)"
        ),
        Field("product_id", "text", False, "the product the file belongs to"),
        Field("options", "object", False, 'processing options, e.g. {"sizes": "150x150"}'),
    ),
    build=_build,
    load=load_file_payload,
    describe=lambda payload: f"file {payload['processing_type']} {payload['file_id']}",
)
