"""What a file really is, from its first bytes, and the names people use for types.

Uploads arrive with a declared type and a name, both chosen by the uploader; only the content's
magic bytes are evidence. `filetype` knows the signatures; this module maps the aliases
("jpg", ".jpeg", "image/jpg", "JPEG") onto one MIME type so they can be compared.
"""

from __future__ import annotations

from pathlib import Path

import filetype

from jobctl.errors import UsageError

SNIFF_BYTES = 8192  # filetype never looks further than this

ALIASES: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "png": "image/png",
    "image/x-png": "image/png",
    "apng": "image/png",
    "image/apng": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "pdf": "application/pdf",
    "zip": "application/zip",
}
# the type each Pillow format name stands for, for images Pillow opened
PILLOW_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "application/pdf": "pdf",
}


def normalize_type(declared: str) -> str:
    """'JPG', '.jpeg', 'image/jpg' -> 'image/jpeg'; anything with a slash passes through lower-cased."""
    text = str(declared).strip().lower().lstrip(".")
    if text in ALIASES:
        return ALIASES[text]
    if "/" in text and " " not in text:
        return text
    raise UsageError(
        f"unknown file type {declared!r}", "give a MIME type such as image/jpeg, or jpg/png/webp/gif/pdf"
    )


def type_of_name(name: str) -> str | None:
    """The type a file name's extension claims, when jobctl knows that extension."""
    suffix = Path(name).suffix.lower().lstrip(".")
    return ALIASES.get(suffix)


def sniff(path: Path) -> str | None:
    """The MIME type the content's magic bytes say, or None when they match nothing known."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = filetype.guess(head)
    if kind is None:
        return None
    return ALIASES.get(kind.mime, kind.mime)


def extension_for(mime: str) -> str:
    return EXTENSIONS.get(mime) or mime.rpartition("/")[2].replace("x-", "") or "bin"
