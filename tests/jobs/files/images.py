"""Test images made on the spot with Pillow, so no binary fixtures live in the repository.

Every generator writes to the path it is given and returns that path. The private data the
pipeline must strip is marked with CANARY strings, so a test can look for them in raw output bytes
instead of trusting a parser that might skip an unknown chunk.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageDraw

GPS_CANARY = "JOBCTL-GPS-CANARY"  # written as the GPS map datum
PRIVATE_CANARY = "JOBCTL-PRIVATE-CANARY"  # camera owner, XMP, comments, PNG text
GPS_LATITUDE = (48.0, 51.0, 29.59)  # degrees, minutes, seconds
GPS_LONGITUDE = (2.0, 17.0, 40.2)

MARK = (220, 20, 20)  # the stored top-left corner's colour, so orientation can be checked by pixel
BODY = (30, 60, 200)

EXIF_ORIENTATION = 0x0112
EXIF_GPS_IFD = 0x8825
EXIF_ARTIST = 0x013B
GPS_MAP_DATUM = 0x0012

_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.49N"'
    f' exif:UserComment="{PRIVATE_CANARY}"/></rdf:RDF></x:xmpmeta>'
).encode()


@functools.cache
def srgb_icc() -> bytes:
    # cached: littleCMS stamps the creation time into the profile header, so two calls a second
    # apart differ, and a test comparing an output's profile with a fresh one would flake
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def private_exif(orientation: int | None = None) -> Image.Exif:
    """EXIF with an orientation, an owner and a GPS position: everything an upload should not leak."""
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    exif[EXIF_ARTIST] = PRIVATE_CANARY
    gps = exif.get_ifd(EXIF_GPS_IFD)
    gps[1], gps[2] = "N", GPS_LATITUDE
    gps[3], gps[4] = "E", GPS_LONGITUDE
    gps[GPS_MAP_DATUM] = GPS_CANARY
    return exif


def marked(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A body colour with the top-left quarter marked: after any rotation, the mark says where it went."""
    im = Image.new(mode, size, BODY + ((255,) if mode == "RGBA" else ()))
    ImageDraw.Draw(im).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=MARK)
    return im


def jpeg_with_exif_orientation_and_gps(
    path: Path, orientation: int = 6, size: tuple[int, int] = (400, 300), quality: int = 90
) -> Path:
    """`size` is the stored size; viewers show it turned per `orientation`.

    Carries GPS, an owner, XMP and a comment (all private), and an sRGB ICC profile (to be kept).
    """
    marked(size).save(
        path,
        "JPEG",
        quality=quality,
        exif=private_exif(orientation),
        xmp=_XMP,
        comment=PRIVATE_CANARY,
        icc_profile=srgb_icc(),
    )
    return Path(path)


def png_with_alpha(path: Path, size: tuple[int, int] = (200, 100), private: bool = True) -> Path:
    """Left half fully transparent, right half opaque; with `private`, GPS EXIF, XMP and a text chunk too."""
    im = marked(size, "RGBA")
    ImageDraw.Draw(im).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=(0, 0, 0, 0))
    params: dict = {"icc_profile": srgb_icc()}
    if private:
        from PIL.PngImagePlugin import PngInfo

        text = PngInfo()
        text.add_text("Comment", PRIVATE_CANARY)
        text.add_itxt("XML:com.adobe.xmp", _XMP.decode())
        params.update(pnginfo=text, exif=private_exif())
    im.save(path, "PNG", **params)
    return Path(path)


def still(
    path: Path, format: str, size: tuple[int, int] = (160, 120), orientation: int | None = None
) -> Path:
    """A photo-like still in any writable format, with private EXIF where the format can carry it."""
    im = photo(size)
    params: dict = {}
    if format.upper() in {"JPEG", "PNG", "WEBP", "AVIF"}:
        params["exif"] = private_exif(orientation)
        params["icc_profile"] = srgb_icc()
    if format.upper() == "GIF":
        params["comment"] = PRIVATE_CANARY
    im.save(path, format.upper(), **params)
    return Path(path)


def gray16_png(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    """A 16-bit grayscale PNG, black at the top to white at the bottom (Pillow mode I;16)."""
    ramp = Image.linear_gradient("L").resize(size).point(lambda v: v * 257, "I")
    ramp.convert("I;16").save(path, "PNG")
    return Path(path)


def animation(
    path: Path,
    format: str = "GIF",
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    duration: int = 80,
    loop: int = 0,
) -> Path:
    """A square crossing the canvas; GIF, WEBP or PNG (APNG). Frames differ, so no encoder merges them."""
    images = []
    for n in range(frames):
        im = Image.new("RGB", size, (255 - n * 10 % 256, 200, n * 20 % 256))
        x = n * (size[0] - 10) // max(1, frames - 1)
        ImageDraw.Draw(im).rectangle((x, 10, x + 9, 19), fill=(0, 0, 0))
        images.append(im)
    extra: dict = {"comment": PRIVATE_CANARY} if format.upper() == "GIF" else {"exif": private_exif()}
    images[0].save(
        path, format.upper(), save_all=True, append_images=images[1:], duration=duration, loop=loop, **extra
    )
    return Path(path)


def animated_gif(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), duration: int = 80) -> Path:
    return animation(path, "GIF", frames, size, duration)


def bomb_png_header(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR claiming width x height RGBA, a few bytes of IDAT, then IEND.

    A few hundred bytes on disk; a decoder that believed it would allocate width*height*4 bytes.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    signature = b"\x89PNG\r\n\x1a\n"
    Path(path).write_bytes(signature + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return Path(path)


def truncated_jpeg(path: Path, size: tuple[int, int] = (320, 240), keep: float = 0.6) -> Path:
    """A real JPEG cut after `keep` of its bytes: the header parses, the scan data runs out."""
    buffer = io.BytesIO()
    photo(size).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


def pdf_named_jpg(path: Path) -> Path:
    """A minimal but valid one-page PDF (correct xref offsets), whatever name the caller gives it."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    Path(path).write_bytes(bytes(out))
    return Path(path)


def photo(size: tuple[int, int], noise: int = 40, seed: int = 0) -> Image.Image:
    """Gradients in each channel plus grain of +-`noise`: compresses and resamples like a
    photograph, unlike flat colour. The same seed gives the same pixels."""
    width, height = size
    horizontal = Image.linear_gradient("L").rotate(90, expand=True).resize(size)
    vertical = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    im = Image.merge("RGB", (horizontal, vertical, radial))
    grain = Image.frombytes("L", size, random.Random(seed).randbytes(width * height))
    grain = grain.point(lambda v: 128 + (v - 128) * noise // 128).convert("RGB")
    result = ImageChops.add(im, grain, scale=1.0, offset=-128)
    ImageDraw.Draw(result).rectangle((0, 0, width // 4, height // 4), fill=MARK)
    return result


def big_jpeg(
    path: Path,
    megapixels: float = 12,
    orientation: int | None = None,
    aspect: float = 4 / 3,
    quality: int = 90,
) -> Path:
    """A photo-like JPEG of about `megapixels` (12 -> 4000x3000), optionally with an EXIF orientation."""
    height = round((megapixels * 1_000_000 / aspect) ** 0.5)
    width = round(height * aspect)
    params: dict = {"quality": quality}
    if orientation is not None:
        params["exif"] = private_exif(orientation)
    photo((width, height)).save(path, "JPEG", **params)
    return Path(path)
