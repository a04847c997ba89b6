"""Dead letters grouped by error fingerprint: the normalisation, the index kept through every way an
entry comes and goes, the O(groups) read, and entries written before the index."""

from __future__ import annotations

import json
import time

import pytest
from rq.job import Job

from jobctl.config import load_settings
from jobctl.core import dlq, dlq_groups, keyspace
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.errors import UsageError
from tests.encryption import everything_stored
from tests.redis_commands import commands_sent

SMTP_550 = "SMTP server 127.0.0.1:2525 said 550 5.1.1 <{who}@example.com>: mailbox unavailable"
SMTP_421 = "SMTP server 127.0.0.1:2525 said 421 4.7.0 try again later (session {n})"


def fp(message: str, error_type: str = "PermanentJobFailure") -> str:
    return dlq_groups.fingerprint(error_type, message)


# --- fingerprints ---------------------------------------------------------------------------------


def test_the_same_failure_from_many_jobs_has_one_fingerprint():
    assert fp(SMTP_550.format(who="ada")) == fp(SMTP_550.format(who="bob.smith+x"))
    assert fp("boom 0") == fp("boom 4999") == "PermanentJobFailure: boom <n>"
    assert fp("order ord_8f3k2 not found in 'eu-west-1'") == fp("order ord_99zz1x not found in 'us-east'")
    assert fp("job 1b4e28ba-2fa1-11d2-883f-0016d3cca427 gone") == fp(
        "job 6fa459ea-ee8a-3ca4-894e-db77e160355e gone"
    )
    assert fp("bad checksum 0xdeadbeef at deadbeef12") == fp("bad checksum 0x1f at 0123456789abcdef")
    assert fp("connect to db.internal:5432 failed") == fp("connect to db.internal:6543 failed")
    assert fp("took 1.5s, limit 30s") == fp("took 12.25s, limit 60s")


def test_status_codes_keep_failures_apart():
    assert fp(SMTP_550.format(who="ada")) != fp(SMTP_421.format(n=7))
    assert "550 5.1.1" in fp(SMTP_550.format(who="ada"))
    assert "421 4.7.0" in fp(SMTP_421.format(n=7))
    assert fp(SMTP_421.format(n=7)) == fp(SMTP_421.format(n=12345))
    assert fp("HTTP 503 from upstream") != fp("HTTP 404 from upstream")
    assert fp("boom 0", "PermanentJobFailure") != fp("boom 0", "TimeoutError")
    assert fp("[Errno 111] Connection refused") != fp("[Errno 110] Connection timed out")
    assert fp("[Errno 111] Connection refused") == "PermanentJobFailure: [Errno 111] Connection refused"
    assert fp("convert died: exit code 137 after 12s") != fp("convert died: exit code 1 after 12s")
    assert fp("convert died: exit code 137 after 12s") == fp("convert died: exit code 137 after 40s")
    shown = fp(SMTP_550.format(who="ada"))
    assert shown == ("PermanentJobFailure: SMTP server <ip> said 550 5.1.1 <<email>>: mailbox unavailable"), (
        shown
    )


def test_fingerprint_ids_are_checked():
    gid = dlq_groups.fingerprint_id(fp("boom 1"))
    assert dlq_groups.check_fingerprint_id(gid.upper()) == gid and len(gid) == 12
    with pytest.raises(UsageError) as exc:
        dlq_groups.check_fingerprint_id("not-an-id")
    assert "jobctl dlq groups" in exc.value.hint


# --- the index ---------------------------------------------------------------------------------


def dead(conn, settings, messages: list[str], queue: str = "payment-retry") -> list[str]:
    """One dead entry per message, through the worker's finish script (the production path)."""
    ids = enqueue_many(conn, settings, "fail", [{"message": m} for m in messages], queue=queue)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids


def by_error(result) -> dict[str, dict]:
    return {g["sample_error"].split(" said ")[-1][:3]: g for g in result["groups"]}


def test_groups_count_first_last_queues_and_types(settings, redis_client):
    ids_550 = dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(5)])
    ids_421 = dead(redis_client, settings, [SMTP_421.format(n=i) for i in range(2)], queue="email-sending")
    result = dlq.groups(redis_client, settings)
    assert [g["count"] for g in result["groups"]] == [5, 2] and result["total_entries"] == 7
    g550, g421 = by_error(result)["550"], by_error(result)["421"]
    assert g550["queues"] == {"payment-retry": 5} and g550["types"] == {"fail": 5}
    assert g421["queues"] == {"email-sending": 2}
    assert g550["error_type"] == "PermanentJobFailure"
    assert g550["sample_job_id"] == ids_550[-1] and g550["sample_error"].endswith("mailbox unavailable")
    assert "550 5.1.1" in g550["fingerprint"]
    assert g550["first_seen"] <= g550["last_seen"] < g421["first_seen"]
    assert [
        g["fingerprint_id"] for g in dlq.groups(redis_client, settings, queue="email-sending")["groups"]
    ] == [g421["fingerprint_id"]]
    listed = dlq.list_entries(redis_client, settings, fingerprint=g421["fingerprint_id"])
    assert [e["job_id"] for e in listed["entries"]] == ids_421[::-1]


def test_sample_is_the_whole_message_redacted_unless_revealed(settings, redis_client):
    long = "SMTP server 127.0.0.1:25 said 550 " + "x" * 200 + " for ada@example.com"
    dead(redis_client, settings, [long])
    [group] = dlq.groups(redis_client, settings)["groups"]
    assert group["sample_error"].startswith("SMTP server 127.0.0.1:25 said 550 " + "x" * 200)
    assert "ada@example.com" not in group["sample_error"]
    [revealed] = dlq.groups(redis_client, settings, reveal=True)["groups"]
    assert revealed["sample_error"] == long


def test_replay_purge_and_retention_keep_the_counts(monkeypatch, settings, redis_client):
    ids = dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(6)])
    [gid] = [g["fingerprint_id"] for g in dlq.groups(redis_client, settings)["groups"]]

    def count() -> int:
        groups = dlq.groups(redis_client, settings)["groups"]
        return groups[0]["count"] if groups else 0

    dlq.replay(redis_client, settings, ids[:2])
    assert count() == 4
    dlq.purge(redis_client, settings, everything=True, fingerprint=gid, dry_run=True)
    assert count() == 4
    dlq.purge(redis_client, settings, ids[2:3])
    assert count() == 3
    monkeypatch.setenv("JOBCTL_DLQ_MAX_ENTRIES", "1")
    assert dlq.enforce_retention(redis_client, load_settings()) == ids[3:5]
    assert count() == 1
    dlq.purge(redis_client, settings, everything=True, fingerprint=gid)
    assert dlq.groups(redis_client, settings)["groups"] == []
    assert not redis_client.exists(dlq_groups.group_key(gid), dlq_groups.ids_key(gid))
    assert (
        redis_client.hlen(dlq_groups.grouped_key()) == 0
        and redis_client.scard(dlq_groups.registry_key()) == 0
    )


def test_a_replayed_job_that_dies_of_another_error_moves_group(settings, redis_client):
    [job_id] = dead(redis_client, settings, ["boom 1"])
    entry = dlq.read_entry(redis_client, job_id, reveal=True)
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    dlq.add(redis_client, job, "ValueError: SMTP 421 later", "w1")  # dead again while still listed
    groups = dlq.groups(redis_client, settings)["groups"]
    assert [(g["count"], g["error_type"]) for g in groups] == [(1, "ValueError")]
    assert entry["error_type"] == "PermanentJobFailure"


def test_filters_by_fingerprint_replay_with_dry_run(settings, redis_client):
    ids_550 = dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(3)])
    dead(redis_client, settings, [SMTP_421.format(n=1)], queue="email-sending")
    g550 = by_error(dlq.groups(redis_client, settings))["550"]
    preview = dlq.replay(
        redis_client, settings, everything=True, fingerprint=g550["fingerprint_id"], dry_run=True
    )
    assert sorted(e["job_id"] for e in preview["would_replay"]) == sorted(ids_550)
    assert preview["by_queue"] == {"payment-retry": 3}
    assert dlq.read_entry(redis_client, ids_550[0])["state"] == "dead"
    none_here = dlq.replay(
        redis_client,
        settings,
        everything=True,
        fingerprint=g550["fingerprint_id"],
        queue="email-sending",
        dry_run=True,
    )
    assert none_here["would_replay"] == []
    done = dlq.replay(redis_client, settings, everything=True, fingerprint=g550["fingerprint_id"])
    assert sorted(done["replayed"]) == sorted(ids_550)
    assert [g["count"] for g in dlq.groups(redis_client, settings)["groups"]] == [1]


def test_reading_the_groups_costs_o_of_groups_not_entries(monkeypatch, settings, redis_client):
    def sent_for(n: int) -> list[str]:
        dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(n)])
        dead(redis_client, settings, [SMTP_421.format(n=i) for i in range(n)])
        dlq.groups(redis_client, settings)  # the backfill check settles
        sent = commands_sent(monkeypatch, lambda: dlq.groups(redis_client, settings))
        return [c.split()[0] for c in sent]  # names only: the sample ids differ

    small = sent_for(2)
    large = sent_for(40)
    assert small == large
    assert sum(c.startswith("MGET") for c in large) == 1  # one sample per group, in one read
    assert "SCAN" not in large and len(large) < 20


def test_entries_from_before_the_index_are_grouped_on_first_read(settings, redis_client, monkeypatch):
    ids = dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(5)])
    # as an older jobctl left them: entries and indexes, no group index at all
    for key in redis_client.scan_iter(match=f"{keyspace.JOBCTL}:dlqgroups:*"):
        redis_client.delete(key)
    monkeypatch.setattr(dlq_groups, "BACKFILL_BUDGET", 2)
    monkeypatch.setattr(dlq_groups, "BACKFILL_PAGE", 2)
    first = dlq.groups(redis_client, settings)
    assert not first["backfill_done"] and first["groups"][0]["count"] == 2  # bounded: 2 per read
    dlq.purge(redis_client, settings, [ids[3]])  # a purge in between is not counted back in
    while not dlq.groups(redis_client, settings)["backfill_done"]:
        pass
    [group] = dlq.groups(redis_client, settings)["groups"]
    assert group["count"] == 4 and group["queues"] == {"payment-retry": 4}
    assert redis_client.get(dlq_groups.backfill_key()) == b"done"


def test_backfill_takes_every_entry_sharing_one_died_at_score(settings, redis_client, monkeypatch):
    ids = dead(redis_client, settings, [f"boom {i}" for i in range(5)])
    for key in redis_client.scan_iter(match=f"{keyspace.JOBCTL}:dlqgroups:*"):
        redis_client.delete(key)
    redis_client.zadd(keyspace.dlq_index(), {i: 1000.0 for i in ids})
    monkeypatch.setattr(dlq_groups, "BACKFILL_PAGE", 2)
    assert dlq_groups.backfill(redis_client, budget=None)
    assert dlq.groups(redis_client, settings)["groups"][0]["count"] == 5


def test_list_entries_scan_limit_says_it_stopped(settings, redis_client):
    dead(redis_client, settings, ["needle here"] + [f"hay {i}" for i in range(30)])
    page = dlq.list_entries(redis_client, settings, error_contains="needle", limit=5, scan_limit=10)
    assert page["entries"] == [] and page["scan_stopped"] and page["scanned"] == 10
    page = dlq.list_entries(redis_client, settings, error_contains="needle", limit=5, scan_limit=100)
    assert [e["error_message"] for e in page["entries"]] == ["needle here"] and not page["scan_stopped"]
    assert "scan_stopped" not in dlq.list_entries(redis_client, settings, error_contains="needle")


def test_the_stored_entry_is_unchanged(settings, redis_client):
    [job_id] = dead(redis_client, settings, ["boom 1"])
    stored = json.loads(redis_client.get(keyspace.dlq_entry(job_id)))
    assert "fingerprint" not in stored and stored["state"] == "dead"
    assert (
        time.time() - redis_client.zscore(dlq_groups.ids_key(dlq_groups.fingerprint_id(fp("boom 1"))), job_id)
        < 60
    )


def test_with_encryption_the_index_holds_no_message_and_groups_alike(use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    secret = "ada.lovelace@example.com"
    dead(redis_client, settings, [f"SMTP 550 refused {secret} in session {i}" for i in range(3)])
    assert secret.encode() not in everything_stored(redis_client)
    assert b"refused" not in everything_stored(redis_client)  # not even the fingerprint's words
    [live] = dlq.groups(redis_client, settings)["groups"]
    for key in redis_client.scan_iter(match=f"{keyspace.JOBCTL}:dlqgroups:*"):
        redis_client.delete(key)
    [backfilled] = dlq.groups(redis_client, settings)["groups"]  # grouped again from sealed entries
    assert backfilled["fingerprint_id"] == live["fingerprint_id"] and backfilled["count"] == 3
    assert live["fingerprint"] == "PermanentJobFailure: SMTP 550 refused <email> in session <n>"
