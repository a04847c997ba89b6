"""tests/chaos.py account(): every job in exactly one place, lost and stuck found, from Redis alone."""

from __future__ import annotations

import time

from jobctl.core.bulk import enqueue_many
from tests.chaos import account, confirmed, physical
from tests.conftest import KEY_PREFIX

QUEUE = "referral-commission"


def test_each_job_is_put_in_exactly_one_place(redis_client, settings):
    r, p = redis_client, KEY_PREFIX
    names = [
        "waiting",
        "active",
        "claiming",
        "stuck",
        "scheduled",
        "overdue",
        "failed",
        "dead",
        "completed",
        "cancelled",
        "lost",
        "gone",
        "finished_but_listed",
    ]
    ids = dict(zip(names, enqueue_many(r, settings, "noop", [{}] * len(names), queue=QUEUE), strict=True))
    queue = f"{p}:queue:{QUEUE}:normal"
    now = time.time()

    def take(job_id: str, status: str | None = None) -> None:
        r.lrem(queue, 1, job_id)
        if status:
            r.hset(f"{p}:job:{job_id}", "status", status)

    take(ids["active"], "started")
    r.zadd(f"{p}:wip:{QUEUE}:normal", {f"{ids['active']}:exec-1": now + 10})  # RQ 3's <job>:<execution>
    take(ids["claiming"])
    r.rpush(f"{queue}:intermediate", ids["claiming"])  # RQ's LMOVE target, before registration
    take(ids["stuck"], "started")
    r.zadd(f"{p}:wip:{QUEUE}:normal", {f"{ids['stuck']}:tok": now - 60})  # lease ran out a minute ago
    take(ids["scheduled"], "scheduled")
    r.zadd(f"{p}:scheduled:{QUEUE}:normal", {ids["scheduled"]: now + 30})
    take(ids["overdue"], "scheduled")
    r.zadd(f"{p}:scheduled:{QUEUE}:normal", {ids["overdue"]: now - 60})
    take(ids["failed"], "failed")
    r.zadd(f"{p}:failed:{QUEUE}:normal", {ids["failed"]: now})
    take(ids["dead"], "failed")
    r.zadd(f"{p}:jobctl:dlq", {ids["dead"]: now})
    take(ids["completed"], "finished")
    take(ids["cancelled"], "canceled")
    take(ids["lost"])  # status still "queued", in no list
    take(ids["gone"])
    r.delete(f"{p}:job:{ids['gone']}")
    r.hset(f"{p}:job:{ids['finished_but_listed']}", "status", "finished")

    acc = account(r, ids.values(), queues=physical(QUEUE), bound=4)
    expected = {
        "waiting": "waiting",
        "active": "active",
        "claiming": "active",
        "stuck": "active",
        "scheduled": "scheduled",
        "overdue": "scheduled",
        "failed": "failed",
        "dead": "dead",
        "completed": "completed",
        "cancelled": "cancelled",
        "lost": "lost",
        "gone": "lost",
        "finished_but_listed": "completed",
    }
    assert {name: acc.states[ids[name]] for name in names} == expected
    assert set(acc.lost) == {ids["lost"], ids["gone"]}
    assert "queued" in acc.lost[ids["lost"]] and "gone" in acc.lost[ids["gone"]]
    assert set(acc.stuck) == {ids["stuck"]} and 55 < acc.stuck[ids["stuck"]] < 70
    assert set(acc.overdue) == {ids["overdue"]}
    assert acc.active_without_lease == {ids["claiming"]}
    assert acc.holders[ids["active"]] == [(f"{p}:wip:{QUEUE}:normal", f"{ids['active']}:exec-1", now + 10)]
    assert acc.leftovers == {"completed+waiting": 1}
    assert acc.terminal == 4 and not acc.done
    assert "lost 2" in acc.line() and "stuck 1" in acc.line()

    # a second look keeps as lost only what was lost the first time too
    r.rpush(queue, ids["lost"])
    again = confirmed(acc, account(r, ids.values(), queues=physical(QUEUE), bound=4))
    assert set(again.lost) == {ids["gone"]} and again.states[ids["lost"]] == "waiting"


def test_without_a_bound_nothing_is_stuck_and_done_means_all_terminal(redis_client, settings):
    r, p = redis_client, KEY_PREFIX
    ids = enqueue_many(r, settings, "noop", [{}, {}], queue=QUEUE)
    r.delete(f"{p}:queue:{QUEUE}:normal")
    r.hset(f"{p}:job:{ids[0]}", "status", "finished")
    r.zadd(f"{p}:jobctl:dlq", {ids[1]: time.time()})
    acc = account(r, ids)  # the queues to read come from each job's origin
    assert acc.done and acc.counts == {"completed": 1, "dead": 1} and not acc.stuck
