"""The file job, called as a worker calls it, on files the tests generate."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest
from PIL import Image

from jobctl.core import runtime
from jobctl.errors import PermanentJobFailure, TransientJobFailure
from jobctl.jobs.files import prepare_file_payload
from jobctl.jobs.files.job import process_file_job
from tests.jobs.files import images

EICAR = base64.b64decode(
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
)
MB = 1024 * 1024


def run(path_or_url, file_type, processing="process", *, name=None, size=None, options=None, settings=None):
    settings = settings or runtime.settings()
    url = str(path_or_url)
    payload = prepare_file_payload(
        settings,
        file_id="f-1",
        file_url=url,
        file_name=name or url.rsplit("/", 1)[-1],
        file_type=file_type,
        file_size=os.path.getsize(url) if size is None and os.path.exists(url) else (size or 0),
        user_id="u-7",
        processing_type=processing,
        product_id="p-3",
        options=options,
    )
    return process_file_job(payload)


def check_outputs(result):
    """Every output listed is on disk under its content hash, with the size and dimensions it claims."""
    for output in result["outputs"]:
        data = Path(output["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == output["sha256"]
        assert os.path.basename(output["path"]).startswith(output["sha256"])
        assert len(data) == output["size"]
        with Image.open(output["path"]) as im:
            assert im.size == (output["width"], output["height"])
            assert im.format.lower() == output["format"]
    return result["outputs"]


def no_private_data(path):
    data = Path(path).read_bytes()
    assert images.GPS_CANARY.encode() not in data and images.PRIVATE_CANARY.encode() not in data
    with Image.open(path) as im:
        assert images.EXIF_GPS_IFD not in im.getexif()
        assert not im.getexif().get_ifd(images.EXIF_GPS_IFD)


def test_jpeg_with_orientation_and_gps_is_optimised_and_thumbnailed(tmp_path, settings):
    source = images.jpeg_with_exif_orientation_and_gps(tmp_path / "cat.jpg", orientation=6, size=(400, 300))
    result = run(source, "image/jpeg")
    assert result["status"] == "processed" and result["scan"]["clean"] is True
    assert result["file"]["type"] == "image/jpeg"
    assert result["file"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    outputs = check_outputs(result)
    kinds = [o["kind"] for o in outputs]
    assert kinds == ["optimized", "thumbnail", "thumbnail", "thumbnail"]
    optimized = outputs[0]
    assert (optimized["width"], optimized["height"]) == (300, 400)  # EXIF orientation 6 applied
    assert [(o["width"], o["height"]) for o in outputs[1:]] == [(113, 150), (225, 300), (300, 400)]
    for output in outputs:
        assert output["path"].startswith(str(settings.storage_path))
        no_private_data(output["path"])
    assert list((settings.storage_path / "tmp").iterdir()) == []  # the download is cleaned up


def test_running_the_same_job_twice_gives_the_same_files(tmp_path):
    source = images.jpeg_with_exif_orientation_and_gps(tmp_path / "cat.jpg")
    first = [o["path"] for o in run(source, "image/jpeg", "thumbnail")["outputs"]]
    assert [o["path"] for o in run(source, "image/jpeg", "thumbnail")["outputs"]] == first


def test_png_with_alpha_converts_to_webp_with_alpha_and_to_jpeg_flattened(tmp_path):
    source = images.png_with_alpha(tmp_path / "logo.png")
    [webp] = check_outputs(run(source, "image/png", "format_convert", options={"target": "webp"}))
    with Image.open(webp["path"]) as im:
        assert im.mode == "RGBA"
    [jpeg] = check_outputs(
        run(source, "image/png", "format_convert", options={"target": "jpeg", "quality": 70})
    )
    with Image.open(jpeg["path"]) as im:
        assert im.mode == "RGB"
    no_private_data(webp["path"])


def test_animated_gif_thumbnail_is_one_frame_and_a_still_conversion_is_refused(tmp_path):
    source = images.animated_gif(tmp_path / "spin.gif", frames=12)
    result = run(source, "image/gif", "thumbnail", options={"sizes": "32x32"})
    assert result["image"]["frames"] == 12
    [thumb] = check_outputs(result)
    assert thumb["frames"] == 1
    [converted] = check_outputs(run(source, "image/gif", "format_convert", options={"target": "webp"}))
    assert converted["frames"] == 12
    with pytest.raises(PermanentJobFailure, match="12 frames"):
        run(source, "image/gif", "format_convert", options={"target": "jpeg"})


def test_decompression_bomb_header_is_refused_without_decoding(tmp_path):
    source = images.bomb_png_header(tmp_path / "bomb.png", 100_000, 100_000)
    started = time.monotonic()
    with pytest.raises(PermanentJobFailure, match="10000000000"):
        run(source, "image/png", "validate")
    assert time.monotonic() - started < 10  # refused from the header, not after decoding 10 Gpx


def test_truncated_jpeg_fails_permanently_for_every_processing(tmp_path):
    source = images.truncated_jpeg(tmp_path / "cut.jpg")
    for processing in ("validate", "thumbnail", "image_optimize"):
        with pytest.raises(PermanentJobFailure, match="truncated"):
            run(source, "image/jpeg", processing)


def test_pdf_named_jpg_is_caught_by_its_content(tmp_path):
    source = images.pdf_named_jpg(tmp_path / "invoice.jpg")
    with pytest.raises(
        PermanentJobFailure, match="content is application/pdf but the upload says image/jpeg"
    ):
        run(source, "image/jpeg")
    with pytest.raises(PermanentJobFailure, match="named as image/jpeg but the content is application/pdf"):
        run(source, "application/pdf")


def test_a_real_pdf_validates_and_a_cut_one_does_not(tmp_path):
    source = images.pdf_named_jpg(tmp_path / "invoice.pdf")
    assert run(source, "application/pdf", "validate")["status"] == "valid"
    with pytest.raises(PermanentJobFailure, match="image_optimize needs an image"):
        run(source, "application/pdf", "image_optimize")
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(source.read_bytes()[:-40])
    with pytest.raises(PermanentJobFailure, match="PDF is truncated"):
        run(cut, "application/pdf", "validate")


def test_eicar_is_quarantined_reported_and_not_processed(tmp_path, configure, webhook, redis_client):
    settings = configure(JOBCTL_ADMIN_EMAILS="ops@example.com", JOBCTL_ALERT_WEBHOOK_URL=webhook.url())
    source = tmp_path / "cat.jpg"
    source.write_bytes(EICAR)
    result = run(source, "image/jpeg", settings=settings)
    digest = hashlib.sha256(EICAR).hexdigest()
    assert result["status"] == "quarantined" and "Eicar" in result["reason"]
    assert "outputs" not in result and "image" not in result
    quarantined = settings.storage_path / "quarantine" / digest
    assert result["quarantine_path"] == str(quarantined)
    assert quarantined.read_bytes() == EICAR and stat.S_IMODE(quarantined.stat().st_mode) == 0o600
    note = json.loads((quarantined.parent / f"{digest}.json").read_text())
    assert (note["file_id"], note["user_id"], note["source"]) == ("f-1", "u-7", str(source))
    assert result["alerted"] == ["log", "email", "webhook"]
    [body] = webhook.bodies
    assert body["event"] == "file.infected" and body["sha256"] == digest and body["file_id"] == "f-1"
    from rq import Queue

    from jobctl.core.payloads import PayloadSerializer

    [email_job] = Queue(
        "email-sending:high", connection=redis_client, serializer=PayloadSerializer
    ).get_jobs()
    assert email_job.args[0]["template"] == "infected-file-alert"


def test_scan_can_be_switched_off_for_the_pipeline_only(tmp_path):
    source = tmp_path / "a.jpg"
    source.write_bytes(EICAR)
    with pytest.raises(PermanentJobFailure, match="not a file type jobctl recognises"):
        run(source, "image/jpeg", options={"scan_for_viruses": False})
    assert run(source, "image/jpeg", "virus_scan")["status"] == "quarantined"


def test_oversized_download_fails_and_leaves_nothing(file_server, configure):
    settings = configure(MAX_FILE_SIZE="1m")
    url = file_server.add("/huge.jpg", b"\xff\xd8\xff" + b"\0" * (2 * MB), how="chunked")
    with pytest.raises(PermanentJobFailure, match="MAX_FILE_SIZE"):
        run(url, "image/jpeg", settings=settings)
    assert list((settings.storage_path / "tmp").iterdir()) == []


def test_a_file_shorter_than_declared_fails(file_server, tmp_path):
    body = images.jpeg_with_exif_orientation_and_gps(tmp_path / "a.jpg").read_bytes()
    url = file_server.add("/a.jpg", body, how="understated")
    with pytest.raises(PermanentJobFailure, match=f"the upload said {len(body)}"):
        run(url, "image/jpeg", size=len(body))


def test_download_over_http_is_processed(file_server, tmp_path):
    body = images.png_with_alpha(tmp_path / "a.png").read_bytes()
    result = run(file_server.add("/u/a.png", body), "image/png", "thumbnail", options={"sizes": "50x50"})
    assert result["file"]["size"] == len(body)
    [thumb] = check_outputs(result)
    assert max(thumb["width"], thumb["height"]) == 50


def test_unreachable_source_is_transient(file_server):
    with pytest.raises(TransientJobFailure, match="HTTP 503"):
        run(file_server.add("/busy.jpg", b"", status=503), "image/jpeg")


def test_memory_ceiling_fails_one_job_and_the_next_one_runs(tmp_path, configure):
    settings = configure(JOBCTL_IMAGE_MEMORY_LIMIT="200m")
    big = tmp_path / "big.png"
    Image.effect_noise((6000, 6000), 40).convert("RGB").save(big, compress_level=1)
    with pytest.raises(PermanentJobFailure, match="JOBCTL_IMAGE_MEMORY_LIMIT"):
        run(big, "image/png", "image_optimize", settings=settings)
    small = images.jpeg_with_exif_orientation_and_gps(tmp_path / "small.jpg")
    assert run(small, "image/jpeg", "thumbnail", settings=settings)["status"] == "processed"


def test_time_limit_stops_a_slow_image(tmp_path, configure):
    settings = configure(JOBCTL_FILE_TIME_LIMIT="1")
    big = images.big_jpeg(tmp_path / "big.jpg", megapixels=40)
    started = time.monotonic()
    with pytest.raises(PermanentJobFailure, match="JOBCTL_FILE_TIME_LIMIT"):
        run(big, "image/jpeg", "format_convert", options={"target": "avif"}, settings=settings)
    assert time.monotonic() - started < 8
