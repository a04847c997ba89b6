"""Every job type x every way in, generated from the registry: a new job type cannot skip it.

Valid fields for a type, sent through the Python API, the CLI, HTTP (a real `jobctl serve`), a
schedule fired by the cron tick, `schedule run`, a dead-letter replay and `jobctl retry`, make the
same payload (the one core.submit.prepare builds) and reach a real worker (`jobctl worker start
--burst`), which completes it (`fail` jobs dead-letter, as that type does). Invalid fields are refused
at every way in (exit 2 / HTTP 422) with nothing stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from rq import Queue
from rq.job import Job

from jobctl import api
from jobctl.config import load_settings
from jobctl.core import dlq, keyspace, runtime, schedules, submit, tokens
from jobctl.core.bulk import enqueue_many
from jobctl.core.contracts import ANY_KEYS
from jobctl.core.jobtypes import JOB_TYPES
from jobctl.core.payloads import PayloadSerializer
from jobctl.data import engine_for
from jobctl.errors import InvalidPayload
from tests.conftest import Cli
from tests.e2e.conftest import free_port
from tests.jobs.payments.store import make_payment

pytestmark = pytest.mark.e2e

WAYS = ("python", "cli", "http", "schedule-tick", "schedule-run", "dlq-replay", "retry")
DEAD_BY_DESIGN = {"fail"}  # types whose every run dead-letters: they "complete" by reaching the DLQ


def valid_fields(tmp_path: Path) -> dict[str, dict]:
    """Fields as a user types them (text where a shell gives text): each type's contract reads them."""
    image = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), "teal").save(image)
    return {
        "email": {
            "to": "ann@example.com",
            "template": "welcome",
            "name": "Ann",
            "login_url": "https://shop.example/login",
        },  # undeclared keys: template variables
        "file": {
            "file_id": "f-1",
            "file_url": str(image),
            "file_type": "image/jpeg",
            "user_id": "u-7",
            "processing_type": "thumbnail",
            "options": {"sizes": "32x32"},
        },
        "analytics": {
            "type": "daily",
            "start": "2026-11-01",
            "end": "2026-11-02",
            "metrics": "revenue,page_views",
        },
        "daily-report": {"date": "2026-11-01", "formats": "json", "email": "false"},
        "weekly-report": {"date": "2026-11-02", "formats": ["csv"], "email": False},
        "payment-retry": {
            "payment_id": "1",
            "provider": "stripe",
            "amount": "49.99",
            "currency": "USD",
            "customer_id": "2",
        },
        "referral-commission": {"order_id": "101"},
        "noop": {"note": "smoke"},
        "sleep": {"seconds": "0"},
        "fail": {"message": "a drill"},
        "flaky": {"counter": str(tmp_path / "flaky-count"), "fail_times": "0"},
    }


INVALID_FIELDS: dict[str, dict] = {
    "email": {"to": "notanaddress", "template": "welcome", "name": "Ann", "login_url": "https://x/l"},
    "file": {"file_id": "f-2", "file_url": "/no/such/upload.jpg", "file_type": "image/jpeg", "user_id": "u"},
    "analytics": {"type": "fortnightly"},
    "daily-report": {"date": "not-a-day"},
    "weekly-report": {"formats": "docx"},
    "payment-retry": {
        "payment_id": "1",
        "provider": "stripe",
        "amount": "1.00",
        "currency": "USD",
        "customer_id": "2",
    },  # the stored payment is 49.99
    "referral-commission": {"order_id": "twelve"},
    "sleep": {"seconds": "-1"},
    "flaky": {"fail_times": "1"},  # no counter
}


def test_every_registered_type_has_examples():
    accepts_anything = {name for name, jt in JOB_TYPES.items() if jt.load_contract().extra == ANY_KEYS}
    assert set(valid_fields(Path("/tmp"))) == set(JOB_TYPES)
    assert set(INVALID_FIELDS) == set(JOB_TYPES) - accepts_anything


@pytest.fixture
def world(tmp_path, monkeypatch, fake_provider, redis_client):
    """A store with a payment and its order, fast workers, a real `jobctl serve` and an operator token."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("JOBCTL_HEARTBEAT_INTERVAL", "1")
    runtime.reset()
    settings = load_settings()
    make_payment(engine_for(settings))
    token = tokens.create_token(redis_client, settings, "matrix", "operator")["token"]
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jobctl"), "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    deadline = time.monotonic() + 30
    while True:  # the deadline only bounds a broken start
        try:
            if http.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"jobctl serve did not come up:\n{log.read()}")
        time.sleep(0.1)
    yield settings, http
    http.close()
    server.terminate()
    server.wait(timeout=15)
    log.close()


def _dead_letter(connection, job_id: str) -> None:
    """What a worker does with a job that died on its last attempt (injected: this test's jobs succeed)."""
    job = Job.fetch(job_id, connection=connection, serializer=PayloadSerializer)
    assert connection.lrem(f"{Queue.redis_queue_namespace_prefix}{job.origin}", 0, job_id) == 1
    dlq.add(connection, job, "InjectedFailure: the worker died on the last attempt", None)


def _enqueue_every_way(job_type: str, fields: dict, settings, http, connection, cli: Cli) -> dict[str, str]:
    ids: dict[str, str] = {}
    ids["python"] = api.add_job(job_type, fields)
    ids["cli"] = cli.json("enqueue", "job", job_type, "--data-json", json.dumps(fields))["job_id"]
    answer = http.post("/api/jobs", json={"job": job_type, "data": fields})
    assert answer.status_code == 201, answer.text
    ids["http"] = answer.json()["job_id"]

    doc = schedules.add_schedule(
        connection, settings, f"m-{job_type}", "*/5 * * * *", job_type=job_type, data=fields
    )
    [fired] = schedules.tick(connection, settings, schedules._parse(doc["next_run_at"]))
    assert fired["action"] == "fired", fired
    ids["schedule-tick"] = fired["job_id"]
    ids["schedule-run"] = cli("schedule", "run", f"m-{job_type}").stdout.strip()

    for way, command in (("dlq-replay", ("dlq", "retry", "--yes")), ("retry", ("retry",))):
        job_id = api.add_job(job_type, fields)
        _dead_letter(connection, job_id)
        cli(*command, job_id)
        ids[way] = job_id
    assert set(ids) == set(WAYS)
    return ids


def _run_worker(queue: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "start", "--queue", queue, "--burst"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("job_type", sorted(JOB_TYPES))
def test_every_way_in_reaches_a_worker_with_the_same_payload(job_type, world, tmp_path, redis_client):
    settings, http = world
    fields = valid_fields(tmp_path)[job_type]
    expected = submit.prepare(settings, job_type, fields)
    ids = _enqueue_every_way(job_type, fields, settings, http, redis_client, Cli())
    _run_worker(JOB_TYPES[job_type].queue)

    for way, job_id in ids.items():
        job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
        assert job.args == [expected], (way, job.args)
        assert job.meta["type"] == job_type
        if way.startswith("schedule"):
            assert job.meta["schedule"] == f"m-{job_type}" and job.meta["occurrence"], way
        state = job.get_status(refresh=True)
        if job_type in DEAD_BY_DESIGN:
            entry = dlq.read_entry(redis_client, job_id, reveal=True)
            assert entry is not None and entry["error_message"] == fields["message"], (way, entry)
        else:
            assert state == "finished", (way, state, job.latest_result() and job.latest_result().exc_string)


@pytest.mark.parametrize("job_type", sorted(INVALID_FIELDS))
def test_invalid_fields_are_refused_at_every_way_in_with_nothing_stored(
    job_type, world, tmp_path, redis_client
):
    _settings, http = world
    fields = INVALID_FIELDS[job_type]
    cli = Cli()
    before = set(redis_client.scan_iter(f"{keyspace.job_key_prefix()}*"))

    with pytest.raises(InvalidPayload):
        api.add_job(job_type, fields)
    refused = cli("enqueue", "job", job_type, "--data-json", json.dumps(fields), code=2)
    assert refused.stderr.startswith("jobctl: error: ") and "\nhint: " in refused.stderr
    assert http.post("/api/jobs", json={"job": job_type, "data": fields}).status_code == 422
    cli(
        "schedule",
        "add",
        f"bad-{job_type}",
        "--cron",
        "@daily",
        "--job",
        job_type,
        "--data-json",
        json.dumps(fields),
        code=2,
    )
    answer = http.post(
        "/api/jobs/schedule",
        json={"name": f"bad-{job_type}", "cron": "@daily", "job": job_type, "data": fields},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_payload"

    assert set(redis_client.scan_iter(f"{keyspace.job_key_prefix()}*")) == before
    assert redis_client.hlen(keyspace.schedules()) == 0


@pytest.mark.parametrize("job_type", ["email", "file"])
def test_a_dead_letter_written_by_the_old_scheduler_replays_with_its_facts_in_meta(
    job_type, world, tmp_path, redis_client
):
    """Before scheduler facts moved to meta, scheduled email and file jobs dead-lettered on them."""
    settings, _ = world
    payload = submit.prepare(settings, job_type, valid_fields(tmp_path)[job_type])
    old = {**payload, "schedule": "nightly", "occurrence": "2026-12-01T03:00:00+00:00", "manual": True}
    [job_id] = enqueue_many(redis_client, settings, job_type, [old])  # as the old scheduler stored it
    _dead_letter(redis_client, job_id)
    Cli()("retry", job_id)
    _run_worker(JOB_TYPES[job_type].queue)
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status(refresh=True) == "finished" and job.args == [payload]
    assert (job.meta["schedule"], job.meta["occurrence"], job.meta["manual"]) == (
        "nightly",
        "2026-12-01T03:00:00+00:00",
        True,
    )


@pytest.mark.parametrize("job_type", sorted(JOB_TYPES))
def test_a_dead_letter_whose_payload_could_never_run_stays_dead(job_type, redis_client, settings):
    [job_id] = enqueue_many(
        redis_client, settings, job_type, ["not an object"]
    )  # hand-made, not through the road
    _dead_letter(redis_client, job_id)
    refused = Cli()("retry", job_id, code=1)
    assert f"{job_id}: its payload could never run" in refused.stderr
    assert redis_client.zscore(keyspace.dlq_index(), job_id) is not None  # still listed as dead
    assert dlq.read_entry(redis_client, job_id)["state"] != "replayed"
    assert Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer).get_status() == "failed"
