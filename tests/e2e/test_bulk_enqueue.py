"""Bulk enqueue at campaign size (issue 21): a CSV streamed in flat memory, a bad row late in the file
queueing nothing, a producer SIGKILLed mid-campaign leaving only whole batches, a failure between
two batches injected, and what the job hashes hold (plain JSON when small, RQ's zlib when large)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import redis
from rq.job import Job

from jobctl import api
from jobctl.core import bulk, keyspace, lifecycle, metrics, runtime
from jobctl.core.bulk import enqueue_many
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_key
from jobctl.core.submit import submit_rows
from jobctl.errors import InvalidPayload
from tests.e2e.conftest import wait_for

SHARED = [
    "-d",
    "headline=Winter sale",
    "-d",
    "body=Everything half price",
    "-d",
    "cta_url=https://shop.example/sale",
    "-d",
    "cta_text=Shop now",
]
CAMPAIGN_QUEUE = "email-sending:normal"
BULK = ["enqueue", "email-bulk", "-t", "marketing-campaign", *SHARED, "--recipients"]


def write_campaign(path: Path, rows: int, bad_line: int | None = None) -> Path:
    """`rows` recipients (email, name, unsubscribe_url); the row on file line `bad_line` gets a link
    the template refuses."""
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "name", "unsubscribe_url"])
        for n in range(rows):
            line = n + 2
            link = "ftp://shop.example/u" if line == bad_line else f"https://shop.example/u/{n}"
            out.writerow([f"user{n}@example.com", f"User {n}", link])
    return path


def run_with_peak(args: list[str]) -> tuple[int, str, str, int]:
    """jobctl as a whole process: (exit code, stdout, stderr, its peak RSS in KiB). The peak is the
    VmHWM of its own memory, read while it runs: ru_maxrss would count this test process's memory,
    which a child inherits at fork (and Linux keeps across exec)."""
    out_path, err_path = Path("stdout.txt"), Path("stderr.txt")
    peak = 0
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "jobctl", *args], stdout=out, stderr=err)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
                peak = max(peak, int(hwm.split()[1]))
            except (OSError, StopIteration):
                pass
            time.sleep(0.01)
    return proc.returncode, out_path.read_text(), err_path.read_text(), peak


def job_keys(client: redis.Redis) -> set[bytes]:
    prefix = keyspace.job_key_prefix()
    return {key[len(prefix) :] for key in client.scan_iter(match=f"{prefix}*", count=5000)}


def test_a_100k_row_campaign_streams_in_flat_memory(tmp_path, redis_client):
    rows = 100_000
    csv_path = write_campaign(tmp_path / "customers.csv", rows)
    code, out, err, peak_kib = run_with_peak(
        [
            "enqueue",
            "email-bulk",
            "-t",
            "marketing-campaign",
            "--recipients",
            str(csv_path),
            *SHARED,
            "--json",
        ]
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["count"] == rows and len(result["job_ids"]) == rows
    waiting = [i.decode() for i in redis_client.lrange(queue_key(CAMPAIGN_QUEUE), 0, -1)]
    assert waiting == result["job_ids"]  # every row, in file order
    assert (result["first_job_id"], result["last_job_id"]) == (waiting[0], waiting[-1])
    assert len(result["digest"]) == 64
    # a list of 100k payloads alone would be ~100 MB; streamed, the process stays near its start-up size
    assert peak_kib < 160 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    job = Job.fetch(waiting[-1], connection=redis_client, serializer=PayloadSerializer)
    assert job.args[0]["to"] == [f"user{rows - 1}@example.com"]
    assert job.args[0]["data"]["unsubscribe_url"] == f"https://shop.example/u/{rows - 1}"
    assert job.get_status() == "queued" and job.retries_left == 4


def test_a_bad_row_late_in_the_file_queues_nothing(tmp_path, redis_client):
    csv_path = write_campaign(tmp_path / "customers.csv", 20_000, bad_line=19_500)
    code, _, err, _ = run_with_peak([*BULK, str(csv_path)])
    assert code == 2
    assert f"{csv_path} line 19500: " in err and "ftp://shop.example/u" in err
    assert "Traceback" not in err
    assert redis_client.llen(queue_key(CAMPAIGN_QUEUE)) == 0
    assert job_keys(redis_client) == set()


def test_a_producer_killed_mid_campaign_leaves_only_whole_batches(tmp_path, redis_client):
    csv_path = write_campaign(tmp_path / "customers.csv", 150_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobctl", *BULK, str(csv_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: redis_client.llen(queue_key(CAMPAIGN_QUEUE)) > 0, 120, 0.005, "the first batch")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    waiting = {i for i in redis_client.lrange(queue_key(CAMPAIGN_QUEUE), 0, -1)}
    assert 0 < len(waiting) < 150_000
    assert job_keys(redis_client) == waiting  # no job without its id on the queue, no id without its job
    counted = sum(int(v) for v in redis_client.hmget(metrics.keys_at("email-sending", 0)[2], "enqueued") if v)
    assert counted == len(waiting)  # the counters moved in the same atomic step as the jobs


def test_a_failure_between_batches_leaves_the_batches_before_it(redis_client, settings, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_MAX", 100)
    real = lifecycle.push_rows
    calls = []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise redis.ConnectionError("connection lost (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "push_rows", failing_third)
    with pytest.raises(redis.ConnectionError):
        submit_rows(redis_client, settings, "noop", [{"n": n} for n in range(1000)], queue="file-processing")
    waiting = redis_client.lrange(queue_key("file-processing:high"), 0, -1)
    assert len(waiting) == 200 and job_keys(redis_client) == set(waiting)
    jobs = Job.fetch_many(
        [i.decode() for i in waiting], connection=redis_client, serializer=PayloadSerializer
    )
    assert [j.args[0]["n"] for j in jobs] == list(range(200))


def test_small_data_is_plain_json_and_large_data_rqs_zlib(redis_client, settings):
    small, large = enqueue_many(
        redis_client, settings, "noop", [{"n": 1}, {"blob": "x" * 5000}], queue="file-processing"
    )
    stored = {i: redis_client.hget(keyspace.job_key_prefix() + i, "data") for i in (small, large)}
    assert json.loads(stored[small])[2] == [{"n": 1}]  # no zlib: ~45 us a job saved, RQ reads both
    assert json.loads(zlib.decompress(stored[large]))[2] == [{"blob": "x" * 5000}]
    for job_id, args in ((small, {"n": 1}), (large, {"blob": "x" * 5000})):
        assert Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer).args == [args]


def test_the_api_campaign_returns_count_ids_and_a_digest_of_the_payloads(tmp_path, redis_client, settings):
    runtime.install(settings, redis_client)
    data = dict(item.split("=", 1) for item in SHARED[1::2])
    one = api.send_email_campaign(write_campaign(tmp_path / "a.csv", 300), "marketing-campaign", data)
    again = api.send_email_campaign(write_campaign(tmp_path / "b.csv", 300), "marketing-campaign", data)
    other = api.send_email_campaign(write_campaign(tmp_path / "c.csv", 301), "marketing-campaign", data)
    assert (one.count, one.queue, one.priority) == (300, "email-sending", "normal")
    assert one.digest == again.digest != other.digest  # the same payloads, whatever their ids
    assert len(set(one.ids) | set(again.ids)) == 600
    assert one.first_id == one.ids[0] and one.last_id == one.ids[299]
    with pytest.raises(InvalidPayload, match=r"bad\.csv line 2: .*needs variable 'headline'"):
        api.send_email_campaign(write_campaign(tmp_path / "bad.csv", 2), "marketing-campaign", {})
