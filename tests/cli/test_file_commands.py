"""`jobctl enqueue file`: a queued job on success; exit 2, one clear line and nothing queued on bad input."""

from __future__ import annotations

import getpass

import pytest

from jobctl.core.browse import job_detail
from jobctl.core.stats import queue_stats


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "cat.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    return path


def waiting(redis_client, settings) -> int:
    [queue] = queue_stats(redis_client, settings, "file-processing")["queues"]
    return queue["totals"]["waiting"] + queue["totals"]["scheduled"]


def test_enqueue_file_queues_a_high_priority_job_with_defaults(cli, settings, redis_client, photo):
    job_id = cli(
        "enqueue",
        "file",
        "--url",
        str(photo),
        "--type",
        "jpg",
        "--processing",
        "thumbnail",
        "-o",
        "sizes=64x64",
        "-o",
        "format=webp",
        "--product-id",
        "p-9",
    ).stdout.strip()
    detail = job_detail(redis_client, settings, job_id)
    assert (detail["type"], detail["queue"], detail["priority"]) == ("file", "file-processing", "high")
    payload = detail["payload"]
    assert payload["file_url"] == str(photo) and payload["file_name"] == "cat.jpg"
    assert payload["file_type"] == "image/jpeg" and payload["file_size"] == 204  # the local file's size
    assert payload["user_id"] == getpass.getuser() and len(payload["file_id"]) == 32
    assert payload["options"] == {"sizes": [[64, 64]], "format": "webp"}


def test_enqueue_file_json_and_options_json(cli, settings, redis_client, photo):
    out = cli.json(
        "enqueue",
        "file",
        "--url",
        photo.as_uri(),
        "--type",
        "image/jpeg",
        "--processing",
        "format_convert",
        "--options-json",
        '{"target": "avif", "quality": 60}',
        "--file-id",
        "f-42",
        "--user-id",
        "u-1",
        "--size",
        "204",
    )
    payload = job_detail(redis_client, settings, out["job_id"])["payload"]
    assert (payload["file_id"], payload["user_id"], payload["options"]) == (
        "f-42",
        "u-1",
        {"target": "avif", "quality": 60},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "missing.jpg", "--type", "jpg"], "no such file"),
        (["--type", "exe"], "unknown file type 'exe'"),
        (["--type", "image/tiff"], "file type image/tiff is not accepted"),
        (["--type", "jpg", "--processing", "shrink"], "unknown processing type 'shrink'"),
        (["--type", "jpg", "--processing", "format_convert"], "format_convert needs a target format"),
        (["--type", "jpg", "-o", "speed=fast"], "processing type process has no option speed"),
        (["--type", "jpg", "-o", "nonsense"], "--option expects KEY=VALUE"),
        (["--type", "jpg", "--options-json", "[1]"], "--options-json"),
        (["--type", "jpg", "--size", "999999999999"], "MAX_FILE_SIZE is 100.0 MiB"),
        (["--type", "jpg", "--in", "soon"], "--in"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_queues_nothing(
    cli, settings, redis_client, photo, args, message
):
    if "--url" not in args:
        args = ["--url", str(photo), *args]
    result = cli("enqueue", "file", *args, code=2)
    assert message in result.stderr
    assert result.stderr.startswith("jobctl: error: ")
    assert waiting(redis_client, settings) == 0


def test_bad_input_in_json_mode_is_a_json_error(cli, photo):
    result = cli(
        "enqueue", "file", "--url", str(photo), "--type", "jpg", "--processing", "shrink", "--json", code=2
    )
    assert '"code": "invalid_payload"' in result.stdout  # bad job data: exit 2 (HTTP 422)
