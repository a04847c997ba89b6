"""`keys rotate` in the core: everything re-encrypted under the new key, safely while workers write."""

from __future__ import annotations

import pytest
from rq.job import Job

from jobctl.core import audit, browse, dlq, payloads, rotation, schedules
from jobctl.core.bulk import enqueue
from jobctl.core.payloads import PayloadSerializer
from jobctl.errors import UsageError
from tests.encryption import burst_worker

ADDRESS = "ann.lee@example.com"


def _stored_with(redis_client, settings_a):
    """Under key A: a waiting job, a finished one (with a result), a dead letter, a schedule."""
    waiting = enqueue(redis_client, settings_a, "noop", {"to": ADDRESS}, queue="payment-retry")
    done = enqueue(redis_client, settings_a, "noop", {"to": ADDRESS})
    dead = enqueue(redis_client, settings_a, "fail", {"message": f"no such user {ADDRESS}"})
    burst_worker(redis_client, settings_a, "email-sending")
    schedules.add_schedule(
        redis_client, settings_a, "nightly", "0 3 * * *", job_type="noop", data={"to": ADDRESS}
    )
    return waiting, done, dead


def test_rotation_moves_everything_to_the_new_key(use_keys, key_a, key_b, redis_client):
    plain = enqueue(
        redis_client, use_keys(), "noop", {"to": ADDRESS}, queue="payment-retry"
    )  # from before keys
    waiting, done, dead = _stored_with(redis_client, use_keys(key_a))

    settings = use_keys(key_b, key_a)
    preview = rotation.rotate(redis_client, settings, dry_run=True)
    assert preview["dry_run"] and preview["counts"]["jobs"]["reencrypted"] == 3
    assert audit.list_entries(redis_client, action="keys.rotate") == []  # a dry run changes nothing

    seen = []
    result = rotation.rotate(
        redis_client, settings, on_progress=lambda done_, total, stage: seen.append((done_, total))
    )
    counts = result["counts"]
    assert counts["jobs"] == {"reencrypted": 3, "encrypted": 1, "current": 0, "skipped": 0, "failed": 0}
    assert counts["results"]["reencrypted"] == 2  # the finished and the failed job's
    assert counts["dead_letters"]["reencrypted"] == 1 and counts["schedules"]["reencrypted"] == 1
    assert result["totals"]["failed"] == 0 and result["problems"] == []
    assert seen[-1][0] == seen[-1][1] >= 8
    [entry] = audit.list_entries(redis_client, action="keys.rotate")
    assert (entry["target"], entry["outcome"], entry["count"]) == ("jobs", "ok", 8)

    again = rotation.rotate(redis_client, settings)  # idempotent: nothing left to do
    assert (
        again["totals"]["current"] == 8
        and again["totals"]["reencrypted"] == again["totals"]["encrypted"] == 0
    )

    settings = use_keys(key_b)  # the old key dropped: everything still reads
    for job_id in (plain, waiting, done, dead):
        assert browse.job_detail(redis_client, settings, job_id, reveal=True)["payload"] is not None
    assert browse.job_detail(redis_client, settings, done, reveal=True)["result"] == {"ok": True}
    assert ADDRESS in browse.job_detail(redis_client, settings, dead, reveal=True)["error"]
    assert dlq.get_entry(redis_client, dead, reveal=True)["payload"] == {"message": f"no such user {ADDRESS}"}
    [row] = [r for r in schedules.list_schedules(redis_client, settings) if r["name"] == "nightly"]
    assert row["data"] == {"to": "a***@example.com"}
    assert (
        browse.job_detail(
            redis_client, settings, schedules.run_now(redis_client, settings, "nightly"), reveal=True
        )["payload"]["to"]
        == ADDRESS
    )
    dlq.replay(redis_client, settings, [dead])
    burst_worker(redis_client, settings, "payment-retry")
    for job_id in (plain, waiting):
        assert browse.job_detail(redis_client, settings, job_id)["status"] == "finished"


def test_what_no_key_opens_is_reported_and_left_alone(use_keys, key_a, key_b, redis_client):
    job_id = enqueue(redis_client, use_keys(key_a), "noop", {"to": ADDRESS})
    before = redis_client.hget(Job.key_for(job_id), "data")
    result = rotation.rotate(redis_client, use_keys(key_b))
    assert result["counts"]["jobs"]["failed"] == 1
    assert result["problems"] == [
        {
            "kind": "jobs",
            "key": Job.key_for(job_id),
            "status": "failed",
            "reason": "its data is encrypted with a key that is not in JOBCTL_ENCRYPTION_KEYS",
        }
    ]
    assert redis_client.hget(Job.key_for(job_id), "data") == before
    [entry] = audit.list_entries(redis_client, action="keys.rotate")
    assert entry["outcome"] == "partial" and entry["error"] == "1 not re-encrypted"


def test_a_worker_writing_meanwhile_is_not_overwritten(use_keys, key_a, key_b, redis_client, monkeypatch):
    job_id = enqueue(redis_client, use_keys(key_a), "noop", {"to": ADDRESS})
    settings = use_keys(key_b, key_a)
    read = rotation.Rotation._read
    calls = []

    def read_then_a_worker_writes(self, kind, batch):
        values = read(self, kind, batch)
        if kind.name == "jobs":
            calls.append(batch)
        if len(calls) == 1 and kind.name == "jobs":
            job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
            job.meta["touched"] = "by a worker"
            job.save_meta()  # between rotation's read and its write
        return values

    monkeypatch.setattr(rotation.Rotation, "_read", read_then_a_worker_writes)
    result = rotation.rotate(redis_client, settings)
    assert calls == [[Job.key_for(job_id)]] * 2  # its compare-and-set missed, so it was read again
    assert result["counts"]["jobs"] == {
        "reencrypted": 1,
        "encrypted": 0,
        "current": 0,
        "skipped": 0,
        "failed": 0,
    }
    use_keys(key_b)
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.meta["touched"] == "by a worker" and job.args == [{"to": ADDRESS}]


def test_rotation_needs_keys(use_keys, redis_client):
    with pytest.raises(UsageError, match="JOBCTL_ENCRYPTION_KEYS is not set"):
        rotation.rotate(redis_client, use_keys())


def test_plaintext_that_is_not_json_is_not_jobctls_to_encrypt(use_keys, key_a, redis_client):
    key = Job.key_for("pickled")
    redis_client.hset(key, mapping={"data": b"\x80\x05pickle", "status": "queued"})
    result = rotation.rotate(redis_client, use_keys(key_a))
    assert result["counts"]["jobs"]["skipped"] == 1
    assert redis_client.hget(key, "data") == b"\x80\x05pickle"
    assert not payloads.is_sealed(redis_client.hget(key, "data"))
