"""Job search (jobctl.core.search): by id in O(1), by type and recipient in a bounded scan that says so."""

from __future__ import annotations

import pytest
from rq.job import Job

from jobctl.core import search
from jobctl.core.browse import queue_jobs
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.lifecycle import Lifecycle
from jobctl.core.search import search_jobs
from jobctl.core.stats import queue_key
from jobctl.errors import UsageError
from tests.core.test_lifecycle import claim
from tests.encryption import everything_stored
from tests.redis_commands import commands_sent
from tests.tui.dash_helpers import dead_jobs, failed_jobs, with_failures

WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def email(conn, settings, to, **kw) -> str:
    return enqueue(conn, settings, "email", {"to": to, "template": "welcome", "data": WELCOME}, **kw)


def test_by_id_finds_a_job_in_any_queue_and_state_in_constant_commands(redis_client, settings, monkeypatch):
    waiting = email(redis_client, settings, "ann@example.com")
    later = enqueue(redis_client, settings, "noop", {}, delay=3600, queue="analytics-aggregation")
    enqueue_many(redis_client, settings, "noop", [{}] * 300)  # a longer queue must not cost more

    found = search_jobs(redis_client, settings, job_id=waiting)
    assert [(j["id"], j["state"], j["type"]) for j in found["jobs"]] == [(waiting, "waiting", "email")]
    assert (found["by"], found["complete"], found["total"]) == ("id", True, 1)

    scheduled = search_jobs(redis_client, settings, job_id=later)["jobs"][0]
    assert (scheduled["state"], scheduled["queue"]) == ("scheduled", "analytics-aggregation")
    assert scheduled["runs_at"] > scheduled["created_at"]  # when it runs, not when it was put off

    sent = commands_sent(monkeypatch, lambda: search_jobs(redis_client, settings, job_id=waiting))
    assert len(sent) <= 6, sent
    assert not [c for c in sent if c.split()[0] in ("SCAN", "LRANGE", "ZRANGE", "ZREVRANGE", "KEYS")]


def test_by_id_nothing_and_filters_that_exclude_it(redis_client, settings):
    job_id = email(redis_client, settings, "ann@example.com")
    assert search_jobs(redis_client, settings, job_id="no-such-job")["jobs"] == []
    assert search_jobs(redis_client, settings, job_id=job_id, job_type="noop")["jobs"] == []
    assert search_jobs(redis_client, settings, job_id=job_id, state="failed")["jobs"] == []
    assert search_jobs(redis_client, settings, job_id=job_id, queue="daily-reports")["jobs"] == []
    assert len(search_jobs(redis_client, settings, job_id=job_id, recipient="ann@example.com")["jobs"]) == 1


def test_by_id_finds_a_dead_letter_whose_job_data_is_gone(redis_client, tmp_path):
    settings = with_failures(tmp_path, "payment-retry")
    [dead] = dead_jobs(redis_client, settings, ["gone-1"])
    redis_client.delete(Job.key_for(dead))  # only the dead-letter entry is left
    [row] = search_jobs(redis_client, settings, job_id=dead)["jobs"]
    assert (row["id"], row["state"], row["type"], row["queue"]) == (dead, "dead", "fail", "payment-retry")
    assert search_jobs(redis_client, settings, job_id=dead, queue="dead-letter")["jobs"]


def test_by_type_across_states_newest_first(redis_client, tmp_path):
    settings = with_failures(tmp_path, "payment-retry", "email-sending")
    failed_jobs(redis_client, settings, "email-sending", ["f-1"])
    dead_jobs(redis_client, settings, ["d-1"])
    enqueue_many(redis_client, settings, "fail", [{}, {}], job_ids=["w-old", "w-new"])
    email(redis_client, settings, "ann@example.com")
    found = search_jobs(redis_client, settings, job_type="fail")
    assert {(j["id"], j["state"]) for j in found["jobs"]} == {
        ("f-1", "failed"),
        ("d-1", "dead"),
        ("w-old", "waiting"),
        ("w-new", "waiting"),
    }
    ids = [j["id"] for j in found["jobs"]]
    assert ids.index("w-new") < ids.index("w-old")
    assert found["complete"] and found["stopped"] is None and found["scanned"] == found["total"] == 5
    only_dead = search_jobs(redis_client, settings, job_type="fail", state="dead")
    assert [j["id"] for j in only_dead["jobs"]] == ["d-1"]
    in_queue = search_jobs(redis_client, settings, job_type="fail", queue="email-sending")
    assert {j["id"] for j in in_queue["jobs"]} == {"f-1", "w-old", "w-new"}


def test_bounded_scan_stops_at_the_scan_limit_and_says_so(redis_client, settings, monkeypatch):
    monkeypatch.setattr(search, "BATCH", 10)
    enqueue_many(redis_client, settings, "noop", [{}] * 120)
    email(redis_client, settings, "ann@example.com")  # the newest: found within the limit
    found = search_jobs(redis_client, settings, recipient="ann@example.com", scan_limit=50)
    assert (found["scanned"], found["total"], found["complete"], found["stopped"]) == (
        50,
        121,
        False,
        "scan_limit",
    )
    assert len(found["jobs"]) == 1
    assert search_jobs(redis_client, settings, job_type="noop", limit=5)["stopped"] == "limit"
    sent = commands_sent(
        monkeypatch, lambda: search_jobs(redis_client, settings, job_type="email", scan_limit=50)
    )
    assert sum(c.startswith("HMGET") for c in sent) == 50  # examined 50 of 121, not all


def test_recipient_matches_case_insensitively_whole_address_or_part(redis_client, settings):
    ann = email(redis_client, settings, "Ann@Example.com")
    both = email(redis_client, settings, ["bob@example.org", "ann@example.com"])
    email(redis_client, settings, "joann@example.com")

    def ids(text):
        return {j["id"] for j in search_jobs(redis_client, settings, recipient=text)["jobs"]}

    assert ids("ANN@example.COM") == {ann, both}  # a whole address: exactly that one
    assert len(ids("ann@")) == 3  # part of one: a substring
    assert ids("@example.org") == {both}


def test_recipient_matches_through_encrypted_payloads_and_returns_no_payload(use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    job_id = email(redis_client, settings, "secret.person@example.com")
    assert b"secret.person" not in everything_stored(redis_client)  # sealed at rest
    found = search_jobs(redis_client, settings, recipient="secret.person@example.com")
    assert [j["id"] for j in found["jobs"]] == [job_id]
    assert "payload" not in found["jobs"][0]
    assert "secret.person" not in str(found["jobs"])
    use_keys()  # no key: such jobs cannot be matched, and are counted as such
    unkeyed = search_jobs(redis_client, settings, recipient="secret.person@example.com")
    assert (unkeyed["jobs"], unkeyed["unreadable"]) == ([], 1)


def test_bad_searches_are_refused(redis_client, settings):
    for kwargs, words in [
        ({}, "nothing to search for"),
        ({"job_id": "bad id!"}, "invalid job id"),
        ({"job_type": "nope"}, "unknown job type"),
        ({"job_type": "noop", "recipient": "a@b.c"}, "have no recipient"),
        ({"job_type": "noop", "state": "sleeping"}, "unknown state"),
        ({"job_type": "noop", "limit": 0}, "limit"),
        ({"job_type": "noop", "scan_limit": 0}, "scan limit"),
    ]:
        with pytest.raises(UsageError, match=words):
            search_jobs(redis_client, settings, **kwargs)


def test_scheduled_rows_carry_when_they_run(redis_client, settings):
    job_id = enqueue(redis_client, settings, "noop", {}, delay=600)
    [row] = queue_jobs(redis_client, settings, "email-sending", "scheduled")["jobs"]
    assert row["id"] == job_id and row["enqueued_at"] is None
    assert row["runs_at"] > row["created_at"]


def test_a_running_job_is_found_by_type_and_by_id_as_active(redis_client, settings):
    job_id = email(redis_client, settings, "ann@example.com")
    claim(Lifecycle(redis_client), settings, 1)  # claimed by a worker: "<id>:<token>" in the wip registry
    [row] = search_jobs(redis_client, settings, job_type="email")["jobs"]
    assert (row["id"], row["state"], row["status"]) == (job_id, "active", "started")
    assert search_jobs(redis_client, settings, job_id=job_id)["jobs"][0]["state"] == "active"


def test_an_id_still_waiting_is_not_enqueued_twice(redis_client, settings):
    """The other road to a waiting row whose job says finished: the same id pushed twice."""
    enqueue_many(redis_client, settings, "noop", [{}], job_ids=["once"])
    with pytest.raises(UsageError, match="job id 'once' is taken by a job that is queued"):
        enqueue_many(redis_client, settings, "noop", [{}, {}], job_ids=["other", "once"])
    assert redis_client.llen(queue_key("email-sending:normal")) == 1  # nothing of the refused batch
    redis_client.hset(Job.key_for("once"), "status", "finished")  # it ran: the id may be used again
    enqueue_many(redis_client, settings, "noop", [{}], job_ids=["once"])
