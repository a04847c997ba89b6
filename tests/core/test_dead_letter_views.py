"""The dead-letter queue seen as a queue: counts and pages read its entries (what `dlq list` shows)."""

from __future__ import annotations

import time

import pytest

from jobctl.core import dlq
from jobctl.core.browse import queue_jobs
from jobctl.core.prometheus import render
from jobctl.core.stats import STATES, queue_stats, stats_with_window
from jobctl.errors import UsageError
from tests.core.test_dlq import dead_jobs

DL = "dead-letter"


def dead_in_order(conn, settings, n: int) -> list[str]:
    """n entries with distinct died-at times; returned newest first, as the dead-letter views list them."""
    ids = []
    for _ in range(n):
        ids += dead_jobs(conn, settings, 1)
        time.sleep(0.002)
    return ids[::-1]


def test_stats_row_counts_the_entries_as_failed(settings, redis_client):
    dead_jobs(redis_client, settings, 3)
    [row] = queue_stats(redis_client, settings, DL)["queues"]
    assert row["totals"] == {**dict.fromkeys(STATES, 0), "failed": 3}
    assert row["workers"] == 0 and row["priorities"] == {}
    everything = queue_stats(redis_client, settings)
    assert everything["dead_letter"] == 3 and everything["queues"][-1] == row
    # the queue they died on keeps no failed count of them: each dead job is counted once
    payments = next(q for q in everything["queues"] if q["queue"] == "payment-retry")
    assert payments["totals"]["failed"] == 0


def test_queue_show_pages_through_the_entries_newest_first(settings, redis_client):
    ids = dead_in_order(redis_client, settings, 5)
    listed = [e["job_id"] for e in dlq.list_entries(redis_client, settings)["entries"]]
    assert listed == ids
    first = queue_jobs(redis_client, settings, DL, limit=2)  # no state given: failed, its entries
    assert first["state"] == "failed" and first["total"] == 5 and first["next_offset"] == 2
    assert [j["id"] for j in first["jobs"]] == ids[:2]
    rest = queue_jobs(redis_client, settings, DL, "failed", offset=2, limit=10)
    assert [j["id"] for j in rest["jobs"]] == ids[2:] and rest["next_offset"] is None
    job = first["jobs"][0]
    assert (job["type"], job["queue"], job["priority"]) == ("fail", "payment-retry", "normal")
    assert job["status"] == "failed"
    for state in ("waiting", "active", "scheduled", "completed"):  # it holds nothing else
        page = queue_jobs(redis_client, settings, DL, state)
        assert (page["total"], page["jobs"]) == (0, [])
    # another queue's default is still its waiting jobs
    assert queue_jobs(redis_client, settings, "payment-retry")["state"] == "waiting"


def test_an_entry_whose_job_hash_is_gone_is_shown_from_the_entry(settings, redis_client):
    [job_id] = dead_jobs(redis_client, settings, 1)
    redis_client.delete(f"{dlq.keyspace.job_key_prefix()}{job_id}")
    [job] = queue_jobs(redis_client, settings, DL)["jobs"]
    assert job["id"] == job_id and job["type"] == "fail" and job["queue"] == "payment-retry"
    assert job["ended_at"] == dlq.read_entry(redis_client, job_id)["died_at"]


def test_replayed_and_purged_entries_leave_every_view(settings, redis_client):
    ids = dead_in_order(redis_client, settings, 3)
    dlq.replay(redis_client, settings, [ids[0]])
    dlq.purge(redis_client, settings, [ids[1]])
    page = queue_jobs(redis_client, settings, DL)
    assert [j["id"] for j in page["jobs"]] == [ids[2]] and page["total"] == 1
    assert queue_stats(redis_client, settings, DL)["queues"][0]["totals"]["failed"] == 1


def test_metrics_and_windows_leave_it_to_the_dead_letter_gauge(settings, redis_client):
    dead_jobs(redis_client, settings, 2)
    text = render(redis_client, settings)
    assert "jobctl_dead_letter_jobs 2.0" in text.splitlines()
    assert f'queue="{DL}"' not in text  # no per-queue series for a queue that runs nothing
    window = stats_with_window(redis_client, settings, window=3600)["window"]["queues"]
    assert DL not in window and "payment-retry" in window


def test_an_unknown_state_is_refused(settings, redis_client):
    with pytest.raises(UsageError, match="unknown state 'dead'"):
        queue_jobs(redis_client, settings, DL, "dead")
