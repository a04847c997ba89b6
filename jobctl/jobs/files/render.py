"""The image work of one job, run inside the sandbox: decode, derive, store; returns plain JSON.

Only this runs in the child, so only this has to survive a hostile file; the worker keeps the
fetching, scanning and bookkeeping. Outputs are written to storage here, so megabytes of image data
never cross the pipe back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobctl.jobs.files import imaging, storage
from jobctl.jobs.files.filetypes import PILLOW_FORMATS, extension_for

FORMAT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
}


def _store(folder: Path, encoded: imaging.Encoded) -> dict[str, Any]:
    stored = storage.put(folder, encoded.data, extension_for(FORMAT_TYPES[encoded.format]))
    return {**encoded.meta(), "path": str(stored.path), "size": stored.size, "sha256": stored.sha256}


def render(
    path: str,
    mime: str,
    processing: str,
    options: dict[str, Any],
    storage_dir: str,
    quality: int,
    sizes: list[list[int]],
    max_pixels: int,
) -> dict[str, Any]:
    """Check the image decodes as what the magic bytes said, then make what `processing` asks for."""
    quality = options.get("quality", quality)
    wanted_sizes = [tuple(s) for s in options.get("sizes", sizes)]
    process = processing == "process"
    do_optimize = processing == "image_optimize" or (process and options.get("optimize_image", True))
    do_thumbnails = processing == "thumbnail" or (process and options.get("generate_thumbnail", True))
    do_convert = processing == "format_convert"
    # each operation decodes the whole stream (thumbnails in draft mode), which proves the file is
    # whole; only when none is asked for (validate) does inspect decode it for that alone
    info = imaging.inspect(
        path, max_pixels=max_pixels, decode=not (do_optimize or do_thumbnails or do_convert)
    )
    if PILLOW_FORMATS.get(info["format"]) != mime:
        raise imaging.ImageRejected(f"the content decodes as {info['format']}, not {mime}")
    made: list[imaging.Encoded] = []
    if do_optimize:
        made.append(imaging.optimize(path, quality=quality, max_pixels=max_pixels))
    if do_thumbnails:
        made.extend(
            imaging.thumbnails(
                path, wanted_sizes, quality=quality, max_pixels=max_pixels, format=options.get("format")
            )
        )
    if do_convert:
        made.append(imaging.convert(path, options["target"], quality=quality, max_pixels=max_pixels))
    folder = Path(storage_dir)
    return {"image": info, "outputs": [_store(folder, encoded) for encoded in made]}
