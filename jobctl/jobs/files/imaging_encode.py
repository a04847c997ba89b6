"""Encoding half of `imaging`: pixel modes each format can hold, and the encoder settings.

Nothing here reads a file or looks at metadata other than the ICC profile it is handed: images
arrive scrubbed, and every save passes its parameters explicitly, because Pillow falls back to
`im.info` for some of them (a JPEG comment, a PNG transparency key, an AVIF ICC profile).
"""

from __future__ import annotations

import io
import math
from typing import cast

from PIL import Image, ImageCms

WHITE = (255, 255, 255)
# Lanczos after a box pre-reduction: with a gap of 3 the result is indistinguishable from plain
# Lanczos (Pillow's documentation says so) at a fraction of the cost on a large source.
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0
# PNG: optimize=True is zlib level 9 plus Pillow's filter search. On flat graphics (what PNG is
# for) it is 1-2% smaller than the default level 6 and 3-4x slower: 76 against 27 ms for a
# 1600x1200 screenshot, 18 against 4 ms at 600x450 (bench/imaging_draft.py). Derivatives are made
# once and served many times, so the bytes win, thumbnails included. (On noisy photographs zlib
# levels 1-3 come out ~20% smaller than 6-9 here, but photographs belong in JPEG or WebP.)
PNG_PARAMS = {"optimize": True}

_STILL_MODES = {
    "jpeg": {"L", "RGB"},
    "png": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},
    "webp": {"RGB", "RGBA"},
    "avif": {"RGB", "RGBA"},
    "gif": {"1", "L", "P", "RGB", "RGBA"},  # the GIF writer builds the palette itself
}
_DEEP = ("I;16", "I;16B", "I;16L", "I", "F")
# which ICC colour space ("data colour space" in the profile header) a Pillow mode's pixels are in
_MODE_SPACE = {
    "1": b"GRAY",
    "L": b"GRAY",
    "LA": b"GRAY",
    "I;16": b"GRAY",
    "P": b"RGB ",
    "RGB": b"RGB ",
    "RGBA": b"RGB ",
    "CMYK": b"CMYK",
}


def has_alpha(im: Image.Image) -> bool:
    """Whether any pixel is less than opaque: an alpha channel that is all 255 (a common export
    default) or a declared-but-unused transparent palette entry should not force an alpha format."""
    if im.mode in ("RGBA", "LA", "PA"):
        # Pillow types getextrema for images of several bands; one channel gives (min, max)
        return im.getchannel("A").getextrema()[0] < 255  # type: ignore[operator]
    key = im.info.get("transparency")
    if key is None:
        return False
    if im.mode == "P":
        # Pillow types a colour as a pixel of any mode; a palette image's colours are its indices
        used = {cast(int, index) for _, index in im.getcolors(256) or []}
        if isinstance(key, bytes):  # a PNG palette alpha table
            return any(index < len(key) and key[index] < 255 for index in used)
        return key in used
    return True  # an L or RGB colour key: checking it would cost a full conversion


def workable(im: Image.Image) -> Image.Image:
    """A mode resampling treats well: Pillow resizes palette and bilevel images with NEAREST only."""
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if im.mode in _DEEP:
        return deep_to_l(im)
    return to_rgb(im, alpha=has_alpha(im))


def deep_to_l(im: Image.Image) -> Image.Image:
    """16-bit gray (PNG) to 8 bits by scaling: Pillow's plain conversion clips every value above
    255, which turns almost the whole image white."""
    return im.convert("I").point(lambda value: value / 257).convert("L")


def to_rgb(im: Image.Image, *, alpha: bool) -> Image.Image:
    return im.convert("RGBA" if alpha else "RGB")


def flatten(im: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite onto white, the background most pages show images on."""
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = Image.new("RGB", im.size, WHITE)
    out.paste(rgba, mask=rgba.getchannel("A"))
    return out


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size with `size`'s aspect ratio inside `box`, never larger than `size` itself.

    Halves round up (300x400 in 150x150 is 113x150), the same way whichever side is the long one;
    Python's round() would round them to even and Pillow's thumbnail() differs by orientation.
    """
    width, height = size
    scale = min(box[0] / width, box[1] / height, 1.0)
    return (
        min(box[0], max(1, math.floor(width * scale + 0.5))),
        min(box[1], max(1, math.floor(height * scale + 0.5))),
    )


def prepare(im: Image.Image, fmt: str, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """`im` in a mode `fmt` can store, and the ICC profile still valid for it (or None).

    A profile describes one colour space: after CMYK->RGB or gray->RGB the old one would be wrong.
    """
    if im.mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
    if im.mode in _DEEP and im.mode not in _STILL_MODES[fmt]:
        im = deep_to_l(im)
    alpha = has_alpha(im)
    if im.mode in ("RGBA", "LA") and not alpha:
        im = im.convert(im.mode[:-1])  # an all-opaque alpha channel only costs bytes
    keyed = alpha and fmt in ("jpeg", "webp", "avif") and im.mode in ("L", "RGB")  # PNG tRNS colour key
    if im.mode not in _STILL_MODES[fmt] or keyed:
        im = flatten(im) if fmt == "jpeg" and alpha else to_rgb(im, alpha=alpha and fmt != "jpeg")
    if icc and icc[16:20] != _MODE_SPACE.get(im.mode):
        icc = None
    return im, icc


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Print-workflow JPEGs: through their own profile to sRGB when they carry one, since the
    naive formula shifts colours visibly; the result is sRGB, so it needs no profile."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            # Pillow types the result Image | None; None comes only with inPlace=True
            return ImageCms.profileToProfile(im, source, srgb, outputMode="RGB"), None  # type: ignore[return-value]
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return im.convert("RGB"), None


def save_params(fmt: str, quality: int, icc: bytes | None) -> dict:
    params: dict = {"icc_profile": icc} if icc and fmt != "gif" else {}
    if fmt == "jpeg":
        # 4:2:0 halves chroma, invisible in photos at normal quality; from 90 up the caller asked
        # for fidelity, and text or line-art colour edges need full chroma.
        params.update(
            quality=quality,
            optimize=True,
            progressive=True,
            subsampling="4:4:4" if quality >= 90 else "4:2:0",
        )
    elif fmt == "png":
        params.update(PNG_PARAMS)
    elif fmt == "webp":
        params.update(quality=quality, method=4)
    elif fmt == "avif":
        params.update(quality=quality)
    elif fmt == "gif":
        params.update(optimize=True)
    return params


def encode_still(im: Image.Image, fmt: str, quality: int, icc: bytes | None) -> tuple[bytes, tuple[int, int]]:
    im, icc = prepare(im, fmt, icc)
    buffer = io.BytesIO()
    im.save(buffer, fmt.upper(), **save_params(fmt, quality, icc))
    return buffer.getvalue(), im.size


def encode_animation(
    frames: list[Image.Image],
    fmt: str,
    quality: int,
    icc: bytes | None,
    durations: list[int],
    loop: int | None,
) -> bytes:
    """All frames in one mode, since the APNG, WebP and AVIF writers take the first frame's; the GIF
    writer quantises each frame itself, so its frames go as decoded."""
    if fmt != "gif":
        mode = "RGBA" if any(has_alpha(frame) for frame in frames) else "RGB"
        frames = [frame if frame.mode == mode else frame.convert(mode) for frame in frames]
    if icc and icc[16:20] != _MODE_SPACE.get(frames[0].mode):
        icc = None
    params = save_params(fmt, quality, icc)
    if loop is not None:
        params["loop"] = loop
    elif fmt != "gif":
        params["loop"] = 1  # GIF without a loop extension plays once; elsewhere 0 means forever
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt.upper(), save_all=True, append_images=frames[1:], duration=durations, **params)
    return buffer.getvalue()
