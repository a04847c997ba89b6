"""The RQ job function: `process_file_job(payload)` fetches, scans, checks and processes one upload.

Order matters: the scan comes first, so malware is quarantined whatever it claims to be; then the
content's real type is checked against the declared type, the name and ALLOWED_FILE_TYPES; only then
is an image decoded, in a sandboxed child (see sandbox.py). Anything wrong with the file itself is a
PermanentJobFailure with the reason (retrying cannot fix a lie); trouble reaching it or the scanner
is transient.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rq import get_current_job

from jobctl.core import runtime
from jobctl.core.alerts import infected_file_alert
from jobctl.core.fetch_policy import FetchPolicy
from jobctl.errors import JobctlError, PermanentJobFailure, TransientJobFailure
from jobctl.jobs.files import storage
from jobctl.jobs.files.fetch import Fetched, fetch
from jobctl.jobs.files.filetypes import sniff, type_of_name
from jobctl.jobs.files.payload import IMAGE_PROCESSING, FileRequest, load_file_payload
from jobctl.jobs.files.sandbox import SandboxFailure, run_isolated
from jobctl.jobs.files.scan import scan_file

RENDER = "jobctl.jobs.files.render.render"
PDF_TAIL = 2048  # "%%EOF" must appear near the end of a complete PDF


def _current_job_id() -> str | None:
    job = get_current_job()
    return job.id if job is not None else None


def _wants_scan(request: FileRequest) -> bool:
    if request.processing_type == "validate":
        return False
    return request.processing_type != "process" or request.options.get("scan_for_viruses", True)


def _check_type(settings, request: FileRequest, path: Path) -> str:
    detected = sniff(path)
    if detected is None:
        raise PermanentJobFailure(
            f"the content is not a file type jobctl recognises (declared {request.file_type})"
        )
    if detected != request.file_type:
        raise PermanentJobFailure(
            f"the content is {detected} but the upload says {request.file_type}; "
            "the file is not what it claims to be"
        )
    named = type_of_name(request.file_name)
    if named and named != detected:
        raise PermanentJobFailure(f"{request.file_name!r} is named as {named} but the content is {detected}")
    if detected not in settings.allowed_file_types:
        raise PermanentJobFailure(
            f"{detected} is not in ALLOWED_FILE_TYPES ({', '.join(settings.allowed_file_types)})"
        )
    if detected == "application/pdf":
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - PDF_TAIL))
            if b"%%EOF" not in fh.read():
                raise PermanentJobFailure("the PDF is truncated: it has no %%EOF marker at its end")
    return detected


def _quarantine(settings, request: FileRequest, fetched: Fetched, scan: dict, result: dict) -> dict:
    details = {
        "file_id": request.file_id,
        "file_name": request.file_name,
        "user_id": request.user_id,
        "product_id": request.product_id,
        "signature": scan["signature"],
        "scanner": scan["scanner"],
        "sha256": fetched.sha256,
        "job_id": _current_job_id(),
        "detected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = storage.quarantine(
        settings.storage_path, fetched.path, fetched.sha256, {**details, "source": request.file_url}
    )
    details["quarantine_path"] = str(target)
    channels = infected_file_alert(runtime.connection(), settings, details)
    return {
        **result,
        "status": "quarantined",
        "reason": f"malware found: {scan['signature']}",
        "quarantine_path": str(target),
        "alerted": channels,
    }


def _render(settings, request: FileRequest, path: Path, mime: str) -> dict[str, Any]:
    kwargs = {
        "path": str(path),
        "mime": mime,
        "processing": request.processing_type,
        "options": request.options,
        "storage_dir": str(settings.storage_path),
        "quality": settings.image_quality,
        "sizes": [list(s) for s in settings.thumbnail_sizes],
        "max_pixels": settings.max_image_pixels,
    }
    try:
        return run_isolated(
            RENDER,
            kwargs,
            time_limit=settings.file_time_limit,
            memory_limit=settings.image_memory_limit,
            preload=(RENDER.rpartition(".")[0],),
        )
    except SandboxFailure as exc:
        if exc.kind == "ImageRejected":
            raise PermanentJobFailure(exc.message) from None
        if exc.kind == "timeout":
            raise PermanentJobFailure(f"image processing {exc.message} (JOBCTL_FILE_TIME_LIMIT)") from None
        if exc.kind == "memory":
            raise PermanentJobFailure(
                f"image processing needed more than JOBCTL_IMAGE_MEMORY_LIMIT "
                f"({settings.image_memory_limit // 1024**2} MiB): {exc.message}"
            ) from None
        if exc.kind == "crashed":
            raise PermanentJobFailure(f"the image decoder {exc.message} on this file") from None
        # anything else (a full disk, a bug) may pass: let the retry policy try again
        raise TransientJobFailure(f"image processing failed: {exc.kind}: {exc.message}") from None


def process_file_job(payload: dict) -> dict[str, Any]:
    """Run one file job; the result lists what was found and every output written."""
    settings = runtime.settings()
    try:
        request = load_file_payload(payload)
    except JobctlError as exc:
        raise PermanentJobFailure(exc.message) from None
    fetched = fetch(
        request.file_url,
        storage.work_dir(settings.storage_path),
        limit=settings.max_file_size,
        timeout=settings.fetch_timeout,
        policy=FetchPolicy.from_settings(settings),
    )
    try:
        result: dict[str, Any] = {
            "file_id": request.file_id,
            "user_id": request.user_id,
            "product_id": request.product_id,
            "processing_type": request.processing_type,
            "file": {
                "name": request.file_name,
                "declared_type": request.file_type,
                "size": fetched.size,
                "sha256": fetched.sha256,
            },
        }
        if request.file_size and request.file_size != fetched.size:
            raise PermanentJobFailure(
                f"the file is {fetched.size} bytes but the upload said {request.file_size}; "
                "it changed or was cut short"
            )
        if _wants_scan(request):
            scan = scan_file(settings, fetched.path).as_dict()
            result["scan"] = scan
            if not scan["clean"]:
                return _quarantine(settings, request, fetched, scan, result)
        if request.processing_type == "virus_scan":
            return {**result, "status": "clean"}
        mime = _check_type(settings, request, fetched.path)
        result["file"]["type"] = mime
        if not mime.startswith("image/"):
            if request.processing_type in IMAGE_PROCESSING:
                raise PermanentJobFailure(f"{request.processing_type} needs an image; this file is {mime}")
            return {
                **result,
                "status": "valid" if request.processing_type == "validate" else "processed",
                "outputs": [],
            }
        rendered = _render(settings, request, fetched.path, mime)
        status = "valid" if request.processing_type == "validate" else "processed"
        return {**result, "status": status, "image": rendered["image"], "outputs": rendered["outputs"]}
    finally:
        fetched.path.unlink(missing_ok=True)  # a quarantined file was moved away already
