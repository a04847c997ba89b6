"""Image derivatives of an upload: optimised, thumbnails, other formats. Pure functions of a path.

They run in a sandboxed child process, so they take plain parameters, write nothing and return
bytes. Every output is turned the way its EXIF orientation says and carries no EXIF, XMP, comment
or text chunk (a phone photo's GPS position must never be published); the ICC profile stays,
because without it wide-gamut photos render dull.

Files are opened only by Pillow's plugins for web formats (never EPS, which runs Ghostscript),
with the decompression-bomb guard raised to an error, and fully decoded before anything is
encoded, so a damaged file is refused with ImageRejected instead of producing half an image.
ImageRejected means the file itself is unusable: retrying cannot help. Anything else (a missing
file, MemoryError, an encoder failure) propagates unchanged.

The bomb guard is Pillow's module-level MAX_IMAGE_PIXELS, set for the duration of each call:
fine in a single-threaded child process, not safe to call from several threads at once.
"""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError, features

from jobctl.jobs.files import imaging_encode as enc

ORIENTATION = 0x0112
_AVIF = features.check("avif")
READ_FORMATS = ("JPEG", "PNG", "GIF", "WEBP") + (("AVIF",) if _AVIF else ())
# MPO is what Pillow calls a JPEG with a second, multi-picture image (many phone cameras): its
# first image is the photo, the rest are previews or depth maps, so it is a still JPEG here.
_NAMES = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "AVIF": "avif"}
_PILLOW_NAMES = {name: pillow for pillow, name in _NAMES.items() if pillow != "MPO"}
_LABELS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WebP", "avif": "AVIF"}
ANIMATED_TARGETS = ("webp", "gif") + (("avif",) if _AVIF else ())
# Pillow's JPEG draft decodes at 1/2, 1/4 or 1/8 scale; asking for twice the thumbnail size keeps
# a margin for the final Lanczos pass to antialias from (bench/imaging_draft.py measures it).
DRAFT_GAP = 2
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, IndexError, struct.error)


class ImageRejected(Exception):
    """The file is not a usable image: corrupt, truncated, a decompression bomb, animated where a
    still is needed, unsupported target. Never worth retrying."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Encoded:
    kind: str  # "optimized" | "thumbnail" | "converted"
    format: str  # "jpeg" | "png" | "webp" | "avif" | "gif"
    width: int
    height: int
    data: bytes = field(repr=False)
    frames: int = 1

    def meta(self) -> dict:
        """What a job result records: every field but the bytes (storage adds their size and hash)."""
        return {
            "kind": self.kind,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
        }


@dataclass
class _Decoded:
    format: str
    frames: list[Image.Image]  # oriented, scrubbed; one unless the animation was kept
    durations: list[int]
    loop: int | None
    icc: bytes | None


def supported_targets() -> tuple[str, ...]:
    return ("jpeg", "png", "webp") + (("avif",) if _AVIF else ()) + ("gif",)


def inspect(path: str | Path, *, max_pixels: int, decode: bool = True) -> dict:
    """What the file is. "format" is Pillow's name ("JPEG", "PNG", "GIF", "WEBP", "AVIF"; an MPO
    counts as "JPEG"), the key filetypes.PILLOW_FORMATS maps to a MIME type. width/height are as
    displayed, i.e. after the EXIF orientation.

    By default every frame is decoded (a truncated last frame is still truncation) and has_alpha
    means some pixel of the first frame is not opaque. decode=False reads the headers only, for a
    caller about to decode the file anyway: truncation goes unnoticed, has_alpha only says the
    image declares transparency, and an orientation stored after a PNG's pixel data is missed.
    """
    with _opened(path, max_pixels) as (im, fmt):
        frames = _frame_count(im)
        if decode:
            im.load()
        orientation = _orientation(im, header_only=not decode)
        (width, height), mode = im.size, im.mode
        alpha = enc.has_alpha(im) if decode else im.has_transparency_data
        for index in range(1, frames if decode else 1):
            im.seek(index)
            im.load()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return {
        "format": _PILLOW_NAMES[fmt],
        "width": width,
        "height": height,
        "mode": mode,
        "frames": frames,
        "animated": frames > 1,
        "has_alpha": alpha,
        "orientation": orientation,
    }


def optimize(path: str | Path, *, quality: int, max_pixels: int) -> Encoded:
    """Re-encoded small in its own format, animation kept. May come out larger than a file that
    was already compressed harder than `quality`; it is still the copy that is safe to publish."""
    _check_quality(quality)
    source = _decode(path, max_pixels, all_frames=True)
    return _encode(source, source.format, quality, "optimized")


def convert(path: str | Path, target: str, *, quality: int, max_pixels: int) -> Encoded:
    """In `target` format. Animation survives into WebP, GIF and AVIF (and APNG stays APNG); an
    animated image asked to become a still JPEG or PNG is rejected rather than silently cut."""
    fmt = _check_target(target)
    _check_quality(quality)
    source = _decode(path, max_pixels, all_frames=True, target=fmt)
    return _encode(source, fmt, quality, "converted")


def thumbnails(
    path: str | Path,
    sizes: list[tuple[int, int]],
    *,
    quality: int,
    max_pixels: int,
    format: str | None = None,
) -> list[Encoded]:
    """One still per box, in the order given: aspect ratio kept, never upscaled, first frame only.

    The default format is JPEG for an opaque image and WebP for one with transparency (smaller
    than PNG, and every current browser shows it); `format` overrides. The file is decoded once
    (a JPEG at the smallest draft scale still twice the largest thumbnail) and every thumbnail is
    resized from that one image, so none inherits another's resampling blur.
    """
    boxes = [_check_box(box) for box in sizes]
    _check_quality(quality)
    fmt = _check_target(format) if format is not None else None
    if not boxes:
        return []
    source = _decode(path, max_pixels, all_frames=False, draft_boxes=boxes)
    base = enc.workable(source.frames.pop())  # a converted copy replaces the original, not joins it
    fmt = fmt or ("webp" if enc.has_alpha(base) else "jpeg")
    out = []
    for box in boxes:
        size = enc.fit(base.size, box)
        thumb = base if size == base.size else base.resize(size, enc.RESAMPLE, reducing_gap=enc.REDUCING_GAP)
        data, (width, height) = enc.encode_still(thumb, fmt, quality, source.icc)
        out.append(Encoded("thumbnail", fmt, width, height, data))
    return out


def _encode(source: _Decoded, fmt: str, quality: int, kind: str) -> Encoded:
    if len(source.frames) > 1:
        data = enc.encode_animation(source.frames, fmt, quality, source.icc, source.durations, source.loop)
        width, height = source.frames[0].size
        return Encoded(kind, fmt, width, height, data, frames=len(source.frames))
    data, (width, height) = enc.encode_still(source.frames[0], fmt, quality, source.icc)
    return Encoded(kind, fmt, width, height, data)


def _decode(
    path: str | Path,
    max_pixels: int,
    *,
    all_frames: bool,
    target: str | None = None,
    draft_boxes: list[tuple[int, int]] | None = None,
) -> _Decoded:
    """`target` None means the source's own format, which can always hold its animation."""
    with _opened(path, max_pixels) as (im, fmt):
        frames = _frame_count(im)
        keep_animation = all_frames and frames > 1
        if keep_animation and target is not None and target not in (*ANIMATED_TARGETS, fmt):
            raise ImageRejected(
                f"animated {_label(fmt, frames)} with {frames} frames cannot become a still "
                f"{_LABELS[target]}; convert to webp or gif"
            )
        icc, loop = im.info.get("icc_profile"), im.info.get("loop")
        if draft_boxes and im.format in ("JPEG", "MPO"):
            _draft(im, draft_boxes)
        if not keep_animation:
            ImageOps.exif_transpose(im, in_place=True)  # loads the (first) frame
            return _Decoded(fmt, [_scrubbed(im)], [], loop, icc)
        images, durations = [], []
        for frame in ImageSequence.Iterator(im):
            # Pillow hands out each frame composited onto the previous ones, in one reused object
            copy = frame.copy()
            ImageOps.exif_transpose(copy, in_place=True)
            images.append(_scrubbed(copy))
            durations.append(int(frame.info.get("duration") or 0))
        return _Decoded(fmt, images, durations, loop, icc)


def _draft(im: ImageFile.ImageFile, boxes: list[tuple[int, int]]) -> None:
    """Let libjpeg decode at 1/2..1/8 scale: a 12 MP photo never exists at full size in memory.

    The boxes are in display orientation and the decoder works on stored pixels, so a photo
    stored sideways (EXIF orientation 5-8) has its target swapped back before asking.
    """
    sideways = _orientation(im) in (5, 6, 7, 8)
    shown = im.size[::-1] if sideways else im.size
    width, height = max((enc.fit(shown, box) for box in boxes), key=lambda size: size[0] * size[1])
    want = (width * DRAFT_GAP, height * DRAFT_GAP)
    im.draft(im.mode, want[::-1] if sideways else want)


@contextmanager
def _opened(path: str | Path, max_pixels: int) -> Iterator[tuple[ImageFile.ImageFile, str]]:
    """The opened image and its format name; every Pillow failure inside becomes ImageRejected.

    The file object is ours, not Pillow's, so images already loaded stay usable after the block.
    """
    with open(path, "rb") as fh, _bomb_guard(max_pixels):
        try:
            im = Image.open(fh, formats=READ_FORMATS)
        except UnidentifiedImageError:
            kinds = "JPEG, PNG, GIF, WebP" + (" or AVIF" if _AVIF else "")
            raise ImageRejected(f"not a {kinds} image, or too damaged to be recognised as one") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(_bomb_reason(exc, max_pixels)) from None
        except _DECODE_ERRORS as exc:
            raise ImageRejected(f"the image is corrupt: {exc}") from None
        assert im.format is not None  # Image.open sets the format it recognised
        fmt = _NAMES[im.format]
        try:
            _check_animation_size(im, fmt, max_pixels)
            yield im, fmt
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(_bomb_reason(exc, max_pixels)) from None
        except _DECODE_ERRORS as exc:
            raise ImageRejected(f"the {_LABELS[fmt]} image is truncated or corrupt: {exc}") from None


@contextmanager
def _bomb_guard(max_pixels: int) -> Iterator[None]:
    """Pillow only warns between 1x and 2x its limit; here the limit is the limit. Truncated
    images must fail, whatever another library in the process set LOAD_TRUNCATED_IMAGES to."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _bomb_reason(exc: Exception, max_pixels: int) -> str:
    # Pillow's message is the only place the pixel count is known: re-opening to read the size
    # would let the WebP decoder allocate the very canvas the guard refused. Plain digits, as the
    # setting is written.
    match = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{match[1]} pixels" if match else "too many pixels"
    return (
        f"the image has {pixels}, over the limit of {max_pixels} (JOBCTL_MAX_IMAGE_PIXELS): "
        "refused as a possible decompression bomb"
    )


def _check_animation_size(im: Image.Image, fmt: str, max_pixels: int) -> None:
    """Pillow checks one frame; every frame of an animation is decoded and kept, so they all count."""
    frames = _frame_count(im)
    total = frames * im.size[0] * im.size[1]
    if frames > 1 and total > max_pixels:
        width, height = im.size
        what = f"animated {_label(fmt, frames)} of {width}x{height} with {frames} frames"
        raise ImageRejected(
            f"{what} is {total} pixels in all, over the limit of {max_pixels} (JOBCTL_MAX_IMAGE_PIXELS)"
        )


def _frame_count(im: Image.Image) -> int:
    return 1 if im.format == "MPO" else getattr(im, "n_frames", 1)


def _orientation(im: Image.Image, *, header_only: bool = False) -> int:
    # Pillow's PNG getexif() decodes the whole image to look for a late eXIf chunk; the base
    # class's reads only what the headers held
    value = (Image.Image.getexif(im) if header_only else im.getexif()).get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _scrubbed(im: Image.Image) -> Image.Image:
    """Drop every piece of metadata but the palette transparency the pixels depend on."""
    im.info = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
    return im


def _label(fmt: str, frames: int) -> str:
    return "APNG" if fmt == "png" and frames > 1 else _LABELS[fmt]


def _check_target(target: str) -> str:
    fmt = str(target).lower().lstrip(".")
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in supported_targets():
        choices = ", ".join(supported_targets())
        raise ImageRejected(f"cannot make {target!r} images here; choose one of {choices}")
    return fmt


def _check_quality(quality: int) -> None:
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1-100, not {quality}")


def _check_box(box: tuple[int, int]) -> tuple[int, int]:
    width, height = box
    if width < 1 or height < 1:
        raise ValueError(f"thumbnail box must be at least 1x1, not {width}x{height}")
    return int(width), int(height)
