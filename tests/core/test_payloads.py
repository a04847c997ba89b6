"""Encrypted job payloads: the serializer, what reaches Redis, and jobs read or run without the key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from jobctl import add_email_job
from jobctl.core import browse, dlq, payloads, schedules
from jobctl.core.bulk import enqueue
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import EncryptedData, PayloadSerializer
from jobctl.core.stats import queue_key
from jobctl.data import engine_for
from tests.encryption import burst_worker, everything_stored
from tests.jobs.payments.store import make_payment

ADDRESS = "ann.lee@example.com"
CARD = "4000 0566 5566 5556"  # a Visa test number: passes Luhn
CARD_DIGITS = CARD.replace(" ", "")
NEEDLES = (ADDRESS.encode(), b"ann.lee", CARD.encode(), CARD_DIGITS.encode())


# --- the serializer --------------------------------------------------------------------------------


def test_without_keys_it_writes_what_rq_json_writes(use_keys):
    use_keys()
    value = ("jobctl.jobs.noop.noop", None, [{"to": ADDRESS, "n": [1, 2.5, None, True]}], {})
    assert PayloadSerializer.dumps(value) == JSONSerializer.dumps(value)
    assert PayloadSerializer.loads(JSONSerializer.dumps(value)) == json.loads(json.dumps(value))


def test_with_keys_it_writes_a_token_and_reads_it_back(use_keys, key_a):
    use_keys(key_a)
    value = {"to": ADDRESS, "card": CARD}
    sealed = PayloadSerializer.dumps(value)
    assert sealed.startswith(b"gAAAAA") and payloads.is_sealed(sealed)
    assert ADDRESS.encode() not in sealed
    assert PayloadSerializer.loads(sealed) == value
    assert PayloadSerializer.loads(JSONSerializer.dumps(value)) == value  # plaintext stays readable


def test_any_key_reads_the_first_writes(use_keys, key_a, key_b):
    use_keys(key_a)
    old = PayloadSerializer.dumps({"x": 1})
    use_keys(key_b, key_a)
    assert PayloadSerializer.loads(old) == {"x": 1}
    new = PayloadSerializer.dumps({"x": 2})
    use_keys(key_b)
    assert PayloadSerializer.loads(new) == {"x": 2}


def test_reading_without_the_key_is_a_clear_error(use_keys, key_a, key_b):
    use_keys(key_a)
    sealed = PayloadSerializer.dumps({"x": 1})
    use_keys()
    with pytest.raises(EncryptedData, match="job data is encrypted; set JOBCTL_ENCRYPTION_KEYS"):
        PayloadSerializer.loads(sealed)
    use_keys(key_b)
    with pytest.raises(EncryptedData, match="encrypted with a key that is not in JOBCTL_ENCRYPTION_KEYS"):
        PayloadSerializer.loads(sealed)


def test_meta_it_could_not_read_is_never_written_back_as_a_placeholder(use_keys):
    use_keys()
    with pytest.raises(EncryptedData):
        PayloadSerializer.dumps({"unserialized": b"gAAAAA...", "attempts": []})


def test_text_and_json_helpers_round_trip(use_keys, key_a):
    use_keys(key_a)
    assert payloads.open_text(payloads.seal_text("Traceback: " + ADDRESS)) == "Traceback: " + ADDRESS
    assert payloads.seal_text("") == ""
    assert payloads.open_json(payloads.seal_json({"a": [1]})) == {"a": [1]}
    doc = payloads.seal_fields(
        {"id": "x", "payload": {"to": ADDRESS}, "error_message": "m"},
        ("payload", "error_message", "traceback"),
    )
    assert doc["id"] == "x" and doc["sealed"] == ["payload", "error_message"]
    assert payloads.open_fields(doc, ("error_message",))["sealed"] == ["payload"]
    assert payloads.open_fields(doc) == {"id": "x", "payload": {"to": ADDRESS}, "error_message": "m"}


# --- what reaches Redis ----------------------------------------------------------------------------


def test_no_address_or_card_number_is_stored_in_the_clear(use_keys, key_a, redis_client, cli, monkeypatch):
    monkeypatch.setenv("JOBCTL_ADMIN_EMAILS", "ops@example.com")  # dead letters alert by email, then group
    settings = use_keys(key_a)
    data = {"name": "Ann", "login_url": f"https://shop.example/login?u={ADDRESS}", "card": CARD}
    # the library API and the CLI, several job types
    api_email = add_email_job(ADDRESS, "welcome", data)
    cli_email = cli.json(
        "enqueue",
        "email",
        "--to",
        ADDRESS,
        "--template",
        "password-reset",
        "--data-json",
        json.dumps(
            {"name": "Ann", "reset_url": "https://x.example/r", "expires_in_minutes": 30, "card": CARD}
        ),
    )["job_id"]
    make_payment(engine_for(settings), amount_cents=4999, currency="USD")
    payment = cli.json(
        "enqueue",
        "payment",
        "--payment-id",
        "1",
        "--provider",
        "stripe",
        "--amount",
        "49.99",
        "--currency",
        "usd",
        "--customer-id",
        "2",
        "--provider-ref",
        f"pm_card_{CARD_DIGITS}",
    )["job_id"]
    failing = [
        enqueue(
            redis_client,
            settings,
            "fail",
            {"to": ADDRESS, "message": f"{ADDRESS}: card {CARD} declined"},
            description=f"charge {ADDRESS}",
        )
        for _ in range(2)
    ]  # the second one's alert waits grouped, in Redis
    schedules.add_schedule(
        redis_client,
        settings,
        "nightly-ann",
        "0 3 * * *",
        job_type="email",
        data={"to": [ADDRESS], "template": "welcome", "data": data},
    )
    updated = schedules.put_schedule(
        redis_client,
        settings,
        "nightly-ann",
        "0 5 * * *",
        job_type="email",
        data={"to": [ADDRESS], "template": "welcome", "data": data},
    )  # the HTTP upsert
    assert not updated["created"] and updated["data"]["to"] == ["a***@example.com"]
    cli(
        "schedule",
        "add",
        "weekly-ann",
        "--cron",
        "0 4 * * 1",
        "--job",
        "noop",
        "--data",
        f"to={ADDRESS}",
        "--data",
        f"card={CARD}",
    )
    scheduled = schedules.run_now(redis_client, settings, "weekly-ann")

    burst_worker(redis_client, settings, "email-sending")  # the emails, the failing jobs, the admin alert
    assert (
        redis_client.hlen(f"{dlq.keyspace.JOBCTL}:alert:pending:email-sending") == 2
    )  # a grouped summary waits

    for job_id in (api_email, failing[0]):  # results streams (return value, traceback) were written
        assert redis_client.xlen(Result.get_key(job_id)) >= 1
    stored = everything_stored(redis_client)
    for needle in NEEDLES:
        assert needle not in stored, needle

    # and everything still reads, decrypted, with the key
    detail = browse.job_detail(redis_client, settings, api_email, reveal=True)
    assert detail["status"] == "finished" and detail["result"]["to"] == [ADDRESS]
    assert (
        browse.job_detail(redis_client, settings, cli_email, reveal=True)["payload"]["data"]["card"] == CARD
    )
    assert (
        browse.job_detail(redis_client, settings, payment, reveal=True)["payload"]["provider_ref"]
        == f"pm_card_{CARD_DIGITS}"
    )
    assert browse.job_detail(redis_client, settings, scheduled, reveal=True)["payload"]["card"] == CARD
    entry = dlq.get_entry(redis_client, failing[0], reveal=True)
    assert (
        entry["payload"]["to"] == ADDRESS
        and ADDRESS in entry["error_message"]
        and ADDRESS in entry["traceback"]
    )
    failed = browse.job_detail(redis_client, settings, failing[0], reveal=True)
    assert ADDRESS in failed["error"] and failed["description"] == f"charge {ADDRESS}"
    assert failed["attempts"]["history"][0]["error_message"].startswith(ADDRESS)
    [row] = [r for r in schedules.list_schedules(redis_client, settings) if r["name"] == "nightly-ann"]
    assert row["data"]["to"] == ["a***@example.com"]  # shown redacted


def test_a_plaintext_job_from_before_the_keys_still_runs(use_keys, key_a, redis_client):
    settings = use_keys()
    before = enqueue(redis_client, settings, "noop", {"to": ADDRESS})
    assert ADDRESS.encode() in everything_stored(redis_client)  # really stored in the clear
    settings = use_keys(key_a)
    after = enqueue(redis_client, settings, "noop", {"to": ADDRESS})
    burst_worker(redis_client, settings, "email-sending")
    for job_id in (before, after):
        detail = browse.job_detail(redis_client, settings, job_id, reveal=True)
        assert detail["status"] == "finished" and detail["result"] == {"ok": True}
        assert detail["payload"] == {"to": ADDRESS}


def test_without_the_key_an_encrypted_job_is_refused_clearly_and_kept(use_keys, key_a, key_b, redis_client):
    settings = use_keys(key_a)
    job_id = enqueue(redis_client, settings, "noop", {"to": ADDRESS})
    physical = queue_catalog(settings)["email-sending"].physical("normal")

    settings = use_keys()
    with pytest.raises(EncryptedData, match="job data is encrypted; set JOBCTL_ENCRYPTION_KEYS"):
        browse.job_detail(redis_client, settings, job_id)
    [row] = browse.queue_jobs(redis_client, settings, "email-sending")["jobs"]
    assert (row["id"], row["type"]) == (job_id, "(encrypted)")  # listed all the same

    worker = burst_worker(redis_client, settings, "email-sending")  # a worker without the key
    assert worker.refusal is not None and job_id in worker.refusal.message
    assert redis_client.lrange(queue_key(physical), 0, -1) == [job_id.encode()]  # back on its queue
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)  # raw read: untouched
    assert job.get_status() == JobStatus.QUEUED and payloads.is_sealed(job.data)
    assert redis_client.hget(job.key, "meta").startswith(b"gAAAAA")

    settings = use_keys(key_b)  # the wrong key: refused the same way
    assert burst_worker(redis_client, settings, "email-sending").refusal is not None

    settings = use_keys(key_a)  # the right key: it runs
    burst_worker(redis_client, settings, "email-sending")
    assert browse.job_detail(redis_client, settings, job_id)["status"] == "finished"


def test_a_schedule_without_the_key_for_its_data_is_retried_not_lost(use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    now = datetime(2026, 11, 1, 2, 59, tzinfo=UTC)
    schedules.add_schedule(
        redis_client, settings, "nightly", "0 3 * * *", job_type="noop", data={"to": ADDRESS}, now=now
    )
    due = datetime(2026, 11, 1, 3, 0, 5, tzinfo=UTC)
    settings = use_keys()
    [record] = schedules.tick(redis_client, settings, due)
    assert record["action"] == "error" and "encrypted" in record["error"]
    [row] = [r for r in schedules.list_schedules(redis_client, settings, due) if r["name"] == "nightly"]
    assert row["data"] == "[encrypted]"
    settings = use_keys(key_a)
    [record] = schedules.tick(redis_client, settings, datetime(2026, 11, 1, 3, 1, 10, tzinfo=UTC))
    assert record["action"] == "fired" and record["occurrence"].startswith("2026-11-01T03:00")
    assert (
        browse.job_detail(redis_client, settings, record["job_id"], reveal=True)["payload"]["to"] == ADDRESS
    )
