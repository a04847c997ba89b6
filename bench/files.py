#!/usr/bin/env python3
"""Thumbnails of a 12-megapixel JPEG: Pillow in one process next to the same work through jobctl.

    python3 dev.py bench files                 # embedded server in a temporary home
    python3 dev.py bench files --jobs 100 --megapixels 24

Each "set" is the default three thumbnails (150x150, 300x300, 600x600) of one photo. Rows:
Pillow by hand (full decode, then draft mode), jobctl's imaging code in this process, the same in
the sandbox child, and whole jobs (enqueue -> burst worker -> sandbox -> storage), 1 and 2 worker
processes. Numbers are printed, never asserted.
"""

from __future__ import annotations

import os
import secrets
import sys

PREFIX = f"bench-{secrets.token_hex(4)}"
os.environ["RQ_KEY_PREFIX"] = PREFIX  # before rq is imported, here and in the workers

import argparse  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import redis  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402
from rq.job import Job  # noqa: E402

from jobctl.config import load_settings  # noqa: E402
from jobctl.core import embedded  # noqa: E402
from jobctl.core.bulk import enqueue_many  # noqa: E402
from jobctl.jobs.files import imaging, prepare_file_payload  # noqa: E402
from jobctl.jobs.files.sandbox import run_isolated  # noqa: E402

SIZES = [(150, 150), (300, 300), (600, 600)]
QUALITY = 82
MAX_PIXELS = 100_000_000


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def make_photo(path: Path, megapixels: float) -> Path:
    """Noise over gradients, blurred a little: compresses like a photo, unlike a flat test card."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    base = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.effect_noise((width, height), 60),
        ],
    )
    base.filter(ImageFilter.GaussianBlur(1.2)).save(path, "JPEG", quality=90)
    return path


def by_hand(path: Path, draft: bool) -> None:
    with Image.open(path) as im:
        if draft:  # what Image.thumbnail() does by itself: DCT-scale to no less than twice the box
            im.draft("RGB", tuple(2 * side for side in max(SIZES)))
        else:
            im.load()  # decoded at full size first: thumbnail() can no longer use draft
        upright = ImageOps.exif_transpose(im)
        for box in sorted(SIZES, reverse=True):
            thumb = upright.copy()
            thumb.thumbnail(box)
            thumb.save(io.BytesIO(), "JPEG", quality=QUALITY, optimize=True, progressive=True)


def timed(fn, n: int) -> float:
    fn()  # warm caches and imports
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def through_jobctl(path: Path, env: dict, conn: redis.Redis, jobs: int, procs: int) -> dict:
    settings = load_settings(environ=env)
    payloads = [
        prepare_file_payload(
            settings,
            file_id=f"bench-{i}",
            file_url=str(path),
            file_name=path.name,
            file_type="image/jpeg",
            file_size=path.stat().st_size,
            user_id="bench",
            processing_type="thumbnail",
        )
        for i in range(jobs)
    ]
    ids = enqueue_many(conn, settings, "file", payloads)
    command = [sys.executable, "-m", "jobctl", "worker", "start", "--queue", "file-processing", "--burst"]
    if procs > 1:
        command += ["--concurrency", str(procs)]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"worker exited {result.returncode}: {result.stdout[-2000:]}")
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(Job.key_for(job_id), "status", "started_at", "ended_at")
        rows = pipe.execute()
    failed = sum(1 for status, *_ in rows if status != b"finished")
    starts = [datetime.fromisoformat(r[1].decode().rstrip("Z")) for r in rows if r[1]]
    ends = [datetime.fromisoformat(r[2].decode().rstrip("Z")) for r in rows if r[2]]
    span = (max(ends) - min(starts)).total_seconds()
    return {"per_set": span / jobs, "wall": wall, "failed": failed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/files.py", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="thumbnail jobs per worker run (default 60)")
    parser.add_argument("--repeat", type=int, default=20, help="sets per in-process row (default 20)")
    parser.add_argument("--megapixels", type=float, default=12, help="photo size (default 12)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="jobctl-bench-files-"))
    try:
        photo = make_photo(home / "photo.jpg", args.megapixels)
        with Image.open(photo) as im:
            log(f"photo {im.width}x{im.height}, {photo.stat().st_size / 1e6:.1f} MB")
        socket = embedded.ensure_running(home)
        env = {
            **os.environ,
            "REDIS_URL": f"unix://{socket}",
            "JOBCTL_HOME": str(home),
            "RQ_KEY_PREFIX": PREFIX,
        }
        conn = redis.Redis.from_url(env["REDIS_URL"])
        storage = home / "storage"
        rows: list[tuple[str, float, str]] = []
        log("Pillow by hand")
        full = timed(lambda: by_hand(photo, draft=False), args.repeat)
        rows.append(("Pillow, full decode then thumbnail()", full, ""))
        draft = timed(lambda: by_hand(photo, draft=True), args.repeat)
        rows.append(("Pillow, draft mode at 2x the box (reference)", draft, ""))
        log("jobctl imaging in process, then in the sandbox")
        rows.append(
            (
                "jobctl imaging.thumbnails, in process",
                timed(
                    lambda: imaging.thumbnails(photo, SIZES, quality=QUALITY, max_pixels=MAX_PIXELS),
                    args.repeat,
                ),
                "",
            )
        )
        kwargs = {
            "path": str(photo),
            "mime": "image/jpeg",
            "processing": "thumbnail",
            "options": {},
            "storage_dir": str(storage),
            "quality": QUALITY,
            "sizes": [list(s) for s in SIZES],
            "max_pixels": MAX_PIXELS,
        }
        rows.append(
            (
                "jobctl render in the sandbox child (+ storage)",
                timed(
                    lambda: run_isolated(
                        "jobctl.jobs.files.render.render",
                        kwargs,
                        time_limit=60,
                        memory_limit=2 * 1024**3,
                        preload=("jobctl.jobs.files.render",),
                    ),
                    args.repeat,
                ),
                "",
            )
        )
        for procs in (1, 2):
            log(f"{args.jobs} thumbnail jobs through a burst worker, {procs} process(es)")
            run = through_jobctl(photo, env, conn, args.jobs, procs)
            note = f"wall {run['wall']:.1f} s" + (f", {run['failed']} failed!" if run["failed"] else "")
            rows.append((f"jobctl jobs, worker x{procs} (worker-side)", run["per_set"], note))
        print(
            f"\nThumbnails {', '.join(f'{w}x{h}' for w, h in SIZES)} of a {args.megapixels:g} MP JPEG "
            f"({os.cpu_count()} CPUs); one set = 3 thumbnails"
        )
        print(f"{'path':<50} {'ms/set':>8} {'sets/s':>7} {'thumbs/s':>8} {'vs draft':>8}  note")
        for label, seconds, note in rows:
            print(
                f"{label:<50} {seconds * 1000:>8.1f} {1 / seconds:>7.1f} {3 / seconds:>8.1f} "
                f"{seconds / draft:>7.2f}x  {note}"
            )
        print(f"\ndraft mode speed-up over a full decode: {full / draft:.1f}x")
        return 0
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
