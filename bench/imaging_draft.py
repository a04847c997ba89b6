#!/usr/bin/env python3
"""What JPEG draft decoding buys for thumbnails, and what PNG compression levels cost.

    .venv/bin/python bench/imaging_draft.py            # 5 runs per row, medians
    .venv/bin/python bench/imaging_draft.py --repeat 9

1. thumbnails(): the default boxes (150, 300, 600) of a generated 12-megapixel photo-like JPEG
   (4000x3000, gradients plus noise, quality 90), end to end (decode, resize, encode at 82), with
   the draft off and with the draft asked for 1x, 2x (jobctl's choice) and 4x the largest thumbnail.
   "decode ms" is the decode alone ("MB" what it holds in memory, 4 bytes a pixel in Pillow).
   "PSNR" compares a variant's thumbnail, before encoding, with a full-size decode resized with
   Lanczos (above ~40 dB the difference is invisible): for the 600 box, and for a 1000 box, where
   4000x3000 fits at exactly 1/4 scale and a 1x draft leaves no final resampling pass at all.
2. PNG: size and time per zlib level and with optimize=True, for a photo-like and a flat
   screenshot-like image, at optimised size (1600x1200) and thumbnail size (600x450).

Numbers are printed, never asserted; compare rows of one run only.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import PIL
from PIL import Image, ImageChops, ImageDraw, ImageStat, features

from jobctl.jobs.files import imaging
from jobctl.jobs.files import imaging_encode as enc
from tests.jobs.files.images import big_jpeg, photo

BOXES = [(150, 150), (300, 300), (600, 600)]
QUALITY = 82


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode(path: Path, box: tuple[int, int], gap: int | None) -> tuple[Image.Image, float]:
    """The decoded base for `box` and the seconds the decode took."""
    with Image.open(path) as im:
        if gap:
            width, height = enc.fit(im.size, box)
            im.draft(im.mode, (width * gap, height * gap))
        start = time.perf_counter()
        im.load()
        return im.copy(), time.perf_counter() - start


def psnr(a: Image.Image, b: Image.Image) -> float:
    mse = statistics.fmean(v * v for v in ImageStat.Stat(ImageChops.difference(a, b)).rms)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def resized(path: Path, box: tuple[int, int], gap: int | None) -> Image.Image:
    base, _ = decode(path, box, gap)
    size = enc.fit(base.size, box)
    return base.resize(size, enc.RESAMPLE, reducing_gap=None if gap is None else enc.REDUCING_GAP)


def draft_table(path: Path, repeat: int) -> None:
    exact = (1000, 1000)  # 4000x3000 fits as 1000x750: exactly libjpeg's 1/4 scale, the worst case for 1x
    references = {box: resized(path, box, None) for box in (BOXES[-1], exact)}
    original_draft, original_gap = imaging._draft, imaging.DRAFT_GAP
    print(
        f"thumbnails {', '.join(f'{w}x{h}' for w, h in BOXES)} of a {path.stat().st_size / 1e6:.1f} MB "
        f"4000x3000 JPEG (median of {repeat})"
    )
    print(
        f"{'variant':<20}{'decoded':>11}{'MB':>5}{'decode ms':>11}{'thumbs ms':>11}{'speed-up':>10}"
        f"{'PSNR 600':>10}{'PSNR 1000':>11}"
    )
    baseline = None
    for label, gap in [("no draft", None), ("draft 1x", 1), ("draft 2x (jobctl)", 2), ("draft 4x", 4)]:
        if gap is None:
            imaging._draft = lambda im, boxes: None
        else:
            imaging._draft, imaging.DRAFT_GAP = original_draft, gap
        try:
            seconds = median_seconds(
                lambda: imaging.thumbnails(path, BOXES, quality=QUALITY, max_pixels=100_000_000), repeat
            )
        finally:
            imaging._draft, imaging.DRAFT_GAP = original_draft, original_gap
        baseline = baseline or seconds
        base, _ = decode(path, BOXES[-1], gap)
        decode_seconds = statistics.median(decode(path, BOXES[-1], gap)[1] for _ in range(repeat))
        quality = [
            "ref" if gap is None else f"{psnr(references[box], resized(path, box, gap)):.1f}"
            for box in (BOXES[-1], exact)
        ]
        print(
            f"{label:<20}{f'{base.width}x{base.height}':>11}{base.width * base.height * 4 / 1e6:>5.0f}"
            f"{decode_seconds * 1000:>11.0f}{seconds * 1000:>11.0f}{baseline / seconds:>9.1f}x"
            f"{quality[0]:>10}{quality[1]:>11}"
        )


def screenshot(size: tuple[int, int]) -> Image.Image:
    im = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, size[0], 48), fill=(33, 37, 41))
    for row in range(60, size[1] - 30, 28):
        draw.rectangle((24, row, size[0] - 24, row + 20), fill=(255, 255, 255), outline=(222, 226, 230))
        label = f"order #{row * 37 % 100000:05d}  shipped  {row % 97} items"
        draw.text((32, row + 4), label, fill=(52, 58, 64))
    return im


def png_table(repeat: int) -> None:
    print()
    print(f"PNG encode (median of {repeat}); size relative to level 6")
    variants = [(f"level {level}", {"compress_level": level}) for level in (1, 3, 6, 9)]
    variants.append(("optimize=True", {"optimize": True}))
    for name, im in [
        ("photo", photo((1600, 1200))),
        ("photo", photo((600, 450))),
        ("screenshot", screenshot((1600, 1200))),
        ("screenshot", screenshot((600, 450))),
    ]:
        print(f"{name} {im.width}x{im.height}")

        def save(params: dict, im=im) -> int:
            buffer = io.BytesIO()
            im.save(buffer, "PNG", **params)
            return buffer.tell()

        reference = save({"compress_level": 6})
        for label, params in variants:
            size = save(params)
            seconds = median_seconds(lambda params=params: save(params), repeat)
            print(f"  {label:<16}{size / 1000:>10.1f} kB{size / reference:>8.3f}{seconds * 1000:>10.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}, "
        f"zlib {features.version('zlib')}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = big_jpeg(Path(tmp) / "photo-12mp.jpg", megapixels=12)
        draft_table(path, args.repeat)
    png_table(args.repeat)


if __name__ == "__main__":
    main()
