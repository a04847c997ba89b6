"""`dlq purge` at scale: tens of thousands of dead letters purged in atomic server-side steps, with
progress, the group index right after every step, a purge killed between two steps leaving nothing
half-done, and a confirmed preview honoured."""

from __future__ import annotations

import json
import time

import pytest
from rq.job import Job

from jobctl.core import audit, dlq, dlq_groups, keyspace
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from tests.dead_letters import many_dead
from tests.redis_commands import commands_sent

A, B = "payment-retry", "email-sending"
# {i}000: never a lone 100-599, which a fingerprint keeps as a status code (one group per message)
SMTP_550 = "SMTP said 550 5.1.1 for user number {i}000"
SMTP_421 = "SMTP said 421 4.7.0 try again later (session {i}000)"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str]] = []

    def __call__(self, done: int, total: int | None, stage: str) -> None:
        self.calls.append((done, total, stage))


def key_shapes(conn, job_id: str) -> dict[str, str]:
    """The keys holding a job (its id replaced) and their types."""
    return {
        k.decode().replace(job_id, "ID"): conn.type(k).decode()
        for k in conn.scan_iter(match=f"*{job_id}*", count=1000)
    }


def test_many_dead_writes_what_dlq_add_writes(redis_client, settings):
    [by_worker] = enqueue_many(redis_client, settings, "fail", [{"message": "boom"}], queue=A)
    JobctlWorker(
        [rq_queue(redis_client, q) for q in queue_catalog(settings)[A].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    [by_helper] = many_dead(redis_client, settings, 1, queue=A, message="boom")
    shapes = key_shapes(redis_client, by_helper)
    assert {k: v for k, v in key_shapes(redis_client, by_worker).items() if k in shapes} == shapes
    worker_entry, helper_entry = (
        dlq.read_entry(redis_client, i, reveal=True) for i in (by_worker, by_helper)
    )
    assert worker_entry is not None and helper_entry is not None
    assert set(worker_entry) == set(helper_entry) and helper_entry["state"] == "dead"
    assert redis_client.hget(dlq_groups.grouped_key(), by_worker) == redis_client.hget(
        dlq_groups.grouped_key(), by_helper
    )


def all_parts(conn, ids: list[str], queue: str) -> list[tuple[bool, ...]]:
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(keyspace.dlq_entry(job_id))
            pipe.zscore(keyspace.dlq_index(), job_id)
            pipe.zscore(keyspace.dlq_queue_index(queue), job_id)
            pipe.hexists(dlq_groups.grouped_key(), job_id)
            pipe.exists(Job.key_for(job_id))
        replies = pipe.execute()
    return [
        tuple(r is not None and r is not False and r != 0 for r in replies[n : n + 5])
        for n in range(0, len(replies), 5)
    ]


def group_counts_agree(conn) -> dict[str, int]:
    """Every group's ids, per-queue and per-type counts and the grouped records tell the same story;
    returns the count per group."""
    grouped: dict[str, int] = {}
    for _, raw in conn.hscan_iter(dlq_groups.grouped_key(), count=5000):
        gid = json.loads(raw)[0]
        grouped[gid] = grouped.get(gid, 0) + 1
    counts = {}
    for gid in (g.decode() for g in conn.smembers(dlq_groups.registry_key())):
        n = conn.zcard(dlq_groups.ids_key(gid))
        meta = {k.decode(): int(v) for k, v in conn.hgetall(dlq_groups.group_key(gid)).items()}
        assert sum(v for k, v in meta.items() if k.startswith("q:")) == n
        assert sum(v for k, v in meta.items() if k.startswith("t:")) == n
        counts[gid] = n
    assert counts == grouped
    return counts


def test_purge_all_of_20000_dead_letters_runs_in_steps_with_progress(redis_client, settings):
    doomed = many_dead(redis_client, settings, 12_000, queue=A, message=SMTP_550)
    doomed += many_dead(redis_client, settings, 9_000, queue=A, message=SMTP_421)
    kept = many_dead(redis_client, settings, 40, queue=B, message=SMTP_550)
    before = group_counts_agree(redis_client)
    assert sorted(before.values()) == [9_000, 12_040]
    calls = Recorder()

    started = time.perf_counter()
    result = dlq.purge(redis_client, settings, everything=True, queue=A, on_progress=calls)
    seconds = time.perf_counter() - started

    assert len(result["purged"]) == 21_000 and set(result["purged"]) == set(doomed)
    assert result["not_found"] == []
    purging = [c for c in calls.calls if c[2] == "purging"]
    selecting = [c for c in calls.calls if c[2] == "selecting"]
    assert purging[0] == (0, 21_000, "purging") and purging[-1] == (21_000, 21_000, "purging")
    assert [d for d, _, _ in purging] == sorted(d for d, _, _ in purging)
    assert len(purging) == 1 + -(-21_000 // dlq.PURGE_BATCH)  # before the first step and after each
    assert selecting and all(t is None for _, t, _ in selecting)  # more than one page of ids to read
    assert not any(any(p) for p in all_parts(redis_client, doomed, A))  # nothing of them is left
    assert all(all(p) for p in all_parts(redis_client, kept, B))
    assert sorted(group_counts_agree(redis_client).values()) == [40]
    assert redis_client.zcard(keyspace.dlq_index()) == 40
    [entry] = audit.list_entries(redis_client, action="dlq.purge")
    assert entry["outcome"] == "ok" and entry["count"] == 21_000
    assert seconds < 30, seconds  # some 1-3 s here; far off only if it went back to a trip per entry


def test_purge_all_reads_ids_not_entries(redis_client, settings, monkeypatch):
    many_dead(redis_client, settings, 300, queue=A)
    sent = commands_sent(monkeypatch, lambda: dlq.purge(redis_client, settings, everything=True, since="1h"))
    assert not [c for c in sent if c.startswith(("GET", "MGET"))], sent  # no entry was read
    assert redis_client.zcard(keyspace.dlq_index()) == 0


class Killed(Exception):
    pass


@pytest.mark.parametrize("stop_at", [1, 4])  # 1: after selecting, before any step; 4: after 3 steps
def test_a_purge_killed_between_steps_leaves_whole_entries_and_the_next_one_finishes(
    redis_client, settings, stop_at
):
    ids = many_dead(redis_client, settings, 3_000, queue=A, message=SMTP_550)
    ids += many_dead(redis_client, settings, 2_500, queue=A, message=SMTP_421)
    steps: list[int] = []

    def kill(done: int, total: int | None, stage: str) -> None:
        if stage == "purging":
            steps.append(done)
            if len(steps) == stop_at:
                raise Killed(f"killed at {done}")

    with pytest.raises(Killed):
        dlq.purge(redis_client, settings, everything=True, on_progress=kill)

    states = all_parts(redis_client, ids, A)
    assert set(states) <= {(True,) * 5, (False,) * 5}  # each entry whole or purged with its data
    gone = states.count((False,) * 5)
    assert gone == steps[-1] and (gone == 0) == (stop_at == 1)
    assert sum(group_counts_agree(redis_client).values()) == len(ids) - gone  # counts match what is left
    [failed] = audit.list_entries(redis_client, action="dlq.purge")
    assert failed["outcome"] == "failed" and "Killed" in failed["error"]

    assert (
        len(dlq.purge(redis_client, settings, everything=True, dry_run=True)["would_purge"])
        == len(ids) - gone
    )
    result = dlq.purge(redis_client, settings, everything=True)
    assert len(result["purged"]) == len(ids) - gone
    assert not any(any(p) for p in all_parts(redis_client, ids, A))
    assert group_counts_agree(redis_client) == {}
    assert redis_client.zcard(keyspace.dlq_queue_index(A)) == 0


def test_a_confirmed_preview_is_purged_only_while_it_still_matches(redis_client, settings):
    ids = many_dead(redis_client, settings, 2_500, queue=A)
    preview = dlq.purge(redis_client, settings, everything=True, queue=A, dry_run=True)
    assert preview["by_queue"] == {A: 2_500} and len(preview["would_purge"]) == 2_500
    late = many_dead(redis_client, settings, 1, queue=A)
    with pytest.raises(dlq.SelectionChanged, match="2,501 entries now"):
        dlq.purge(redis_client, settings, everything=True, queue=A, expect_selection=preview["selection"])
    assert all(all(p) for p in all_parts(redis_client, ids + late, A))  # nothing was done

    again = dlq.purge(redis_client, settings, everything=True, queue=A, dry_run=True)
    result = dlq.purge(redis_client, settings, everything=True, queue=A, expect_selection=again["selection"])
    assert sorted(result["purged"]) == sorted(ids + late)


def test_filtered_purges_take_only_what_matches(redis_client, settings):
    a550 = many_dead(redis_client, settings, 1_200, queue=A, message=SMTP_550)
    b550 = many_dead(redis_client, settings, 300, queue=B, message=SMTP_550)
    a421 = many_dead(redis_client, settings, 700, queue=A, message=SMTP_421)
    gid = dlq_groups.fingerprint_id(dlq_groups.fingerprint("PermanentJobFailure", SMTP_550.format(i=1)))

    result = dlq.purge(redis_client, settings, everything=True, fingerprint=gid, queue=B)
    assert sorted(result["purged"]) == sorted(b550)
    result = dlq.purge(redis_client, settings, everything=True, error_contains="try again later")
    assert sorted(result["purged"]) == sorted(a421)
    assert group_counts_agree(redis_client) == {gid: 1_200}
    assert all(all(p) for p in all_parts(redis_client, a550, A))
    assert dlq.purge(redis_client, settings, everything=True, since="1h", dry_run=True)["by_queue"] == {
        A: 1_200
    }


def test_an_entry_replayed_after_the_selection_is_not_purged(redis_client, settings, monkeypatch):
    ids = many_dead(redis_client, settings, 1_500, queue=A)
    replayed: list[str] = []

    def replay_one(done: int, total: int | None, stage: str) -> None:
        if stage == "purging" and done == 0:  # selected, not yet purged: a colleague replays one
            replayed.extend(dlq.replay(redis_client, settings, [ids[-1]])["replayed"])

    result = dlq.purge(redis_client, settings, everything=True, on_progress=replay_one)
    assert replayed == [ids[-1]]
    assert sorted(result["purged"]) == sorted(ids[:-1]) and result["not_found"] == [ids[-1]]
    job = Job.fetch(ids[-1], connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "queued"  # its live job was left alone
    assert group_counts_agree(redis_client) == {}


def test_entries_from_before_the_group_index_are_purged_whole(redis_client, settings):
    old = many_dead(redis_client, settings, 1_300, queue=A)
    for key in redis_client.scan_iter(match=f"{keyspace.JOBCTL}:dlqgroups:*"):  # as an older jobctl left them
        redis_client.delete(key)
    new = many_dead(redis_client, settings, 400, queue=A, message=SMTP_421)
    result = dlq.purge(redis_client, settings, everything=True, queue=A)
    assert sorted(result["purged"]) == sorted(old + new)
    assert not any(
        any(p) for p in all_parts(redis_client, old + new, A)
    )  # queue index too, read off the entry
    assert group_counts_agree(redis_client) == {}
