"""CLI enqueue -> a real worker process -> files in storage; bad files fail alone, the worker carries on."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.jobs.files import images

pytestmark = pytest.mark.e2e

EICAR = base64.b64decode(
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
)


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=60)


def enqueue(url, file_type, processing, *options) -> str:
    args = ["enqueue", "file", "--url", str(url), "--type", file_type, "--processing", processing, "--json"]
    for option in options:
        args += ["--option", option]
    result = jobctl(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["job_id"]


def show(job_id) -> dict:
    result = jobctl("job", "show", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_worker_processes_good_files_and_survives_bad_ones(
    procs, tmp_path, monkeypatch, webhook, file_server
):
    monkeypatch.setenv("JOBCTL_ALERT_WEBHOOK_URL", webhook.url())
    monkeypatch.setenv("JOBCTL_IMAGE_MEMORY_LIMIT", "200m")
    photo = images.jpeg_with_exif_orientation_and_gps(tmp_path / "photo.jpg", orientation=6, size=(800, 600))
    infected = tmp_path / "infected.jpg"
    infected.write_bytes(EICAR)
    huge = tmp_path / "huge.png"
    Image.effect_noise((6000, 6000), 40).convert("RGB").save(huge, compress_level=1)
    logo = file_server.add("/logo.png", images.png_with_alpha(tmp_path / "logo.png").read_bytes())

    jobs = {
        "photo": enqueue(photo, "jpg", "process"),
        "bomb": enqueue(images.bomb_png_header(tmp_path / "bomb.png", 50_000, 50_000), "png", "validate"),
        "infected": enqueue(infected, "jpg", "process"),
        "truncated": enqueue(images.truncated_jpeg(tmp_path / "cut.jpg"), "jpg", "thumbnail"),
        "lying": enqueue(images.pdf_named_jpg(tmp_path / "doc.jpg"), "jpg", "validate"),
        "huge": enqueue(huge, "png", "image_optimize"),
        "logo": enqueue(logo, "png", "format_convert", "target=webp"),
    }
    worker = procs.jobctl("worker", "start", "--queue", "file-processing", "--burst")
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, out

    shown = {name: show(job_id) for name, job_id in jobs.items()}
    workers = {attempt["worker"] for job in shown.values() for attempt in job["attempts"]["history"]}
    assert len(workers) == 1  # one worker process ran every job, the bad ones included

    photo_result = shown["photo"]["result"]
    assert shown["photo"]["status"] == "finished" and photo_result["status"] == "processed"
    assert [o["kind"] for o in photo_result["outputs"]] == [
        "optimized",
        "thumbnail",
        "thumbnail",
        "thumbnail",
    ]
    assert (photo_result["outputs"][0]["width"], photo_result["outputs"][0]["height"]) == (600, 800)
    for output in photo_result["outputs"]:
        assert images.GPS_CANARY.encode() not in Path(output["path"]).read_bytes()
    [webp] = shown["logo"]["result"]["outputs"]
    assert webp["format"] == "webp"

    assert shown["infected"]["status"] == "finished"
    assert shown["infected"]["result"]["status"] == "quarantined"
    [infected_alert] = [b for b in webhook.bodies if b["event"] == "file.infected"]
    assert infected_alert["sha256"] == shown["infected"]["result"]["file"]["sha256"]
    # the four bad files were dead-lettered: one grouped alert (the cooldown holds the rest)
    assert [b["queue"] for b in webhook.bodies if b["event"] == "jobs.dead_lettered"] == ["file-processing"]

    reasons = {
        "bomb": "2500000000",
        "truncated": "truncated",
        "lying": "application/pdf",
        "huge": "JOBCTL_IMAGE_MEMORY_LIMIT",
    }
    for name, reason in reasons.items():
        dlq = jobctl("dlq", "show", jobs[name], "--json")
        assert dlq.returncode == 0, (name, dlq.stderr)
        entry = json.loads(dlq.stdout)
        assert entry["attempt_count"] == 1, name  # permanent: not retried
        assert reason in entry["error_message"], (name, entry["error_message"])
