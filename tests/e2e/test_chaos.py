"""Chaos: no job is lost when workers and the server are SIGKILLed at any instant (issue 14).

Per seed: a private Redis-compatible server keeping its data in an append-only file
(tests/chaos.py DurableServer), 1,000 jobs on referral-commission (80 % no-ops, 15 % failing
transiently once or twice, 3 % sleeping 0.2 s so kills land mid-job, 2 % always failing, which
must end dead-lettered after 4 attempts), two `jobctl worker start` processes with
JOBCTL_HEARTBEAT_INTERVAL=1 and JOBCTL_MAINTENANCE_INTERVAL=1. About every second the worker that
has run longest (once 1.5 s old: start-up takes about that) is SIGKILLed and started again under a
new name; the server is SIGKILLed once, at 40 % done or 6 s, and started again on the same port
and data. Killing stops at 90 % done (and at least 8 kills) or after 12 s; then the run waits for
every job to be completed or dead-lettered, at most the README's bound (3 x heartbeat +
maintenance = 4 s) plus the dead-letter sweep's 10 s and 10 s of slack.

Pass criteria, from Redis alone (tests/chaos.py `account`): 0 lost, 0 stuck (a lease that ran out
over 4 s ago and was not taken back), every job completed or dead-lettered.

Seeds: CHAOS_SEEDS=1,2,3 (default 1,2). A seed picks the job mix, the priorities and ties among
workers to kill; kill instants are wall-clock, so every run hits different windows.
"""

from __future__ import annotations

import os
import random
import shutil

import pytest

from tests.chaos import ChaosRun, DurableServer, Plan, WorkerPool, lease_bound, physical, scratch_dir

pytestmark = pytest.mark.e2e

SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1,2").replace(" ", "").split(",") if s]
QUEUE = "referral-commission"
JOBS = 1000
HEARTBEAT, MAINTENANCE = 1, 1
BOUND = lease_bound(HEARTBEAT, MAINTENANCE)  # 4 s
ATTEMPTS = 4
# After the chaos, every job must be completed or dead-lettered within: the README's bound, plus the
# dead-letter sweep's 10 s grace for a failed job, plus 10 s of slack (no lock can delay retries:
# every worker promotes due ones). A run where everything works is done long before; a lost job
# (or only stuck ones left) ends the wait early: they never come back.
SETTLE = BOUND + 10 + 10

POLICY = f"""
[queues.{QUEUE}]
attempts = {ATTEMPTS}
keep_completed = 1000000
keep_failed = 1000000
[queues.{QUEUE}.backoff]
delays = [1]
jitter = "none"
"""


def job_mix(rng: random.Random, counters) -> list[tuple[str, str, dict]]:
    """(job type, priority, payload) for JOBS jobs: 80 % noop, 10 % fail once, 5 % fail twice,
    3 % sleep 0.2 s, 2 % always fail (dead-lettered after ATTEMPTS attempts)."""
    jobs = []
    for n in range(JOBS):
        roll = rng.random()
        priority = rng.choice(("high", "normal", "normal", "low"))
        if roll < 0.80:
            jobs.append(("noop", priority, {}))
        elif roll < 0.95:
            fail_times = 1 if roll < 0.90 else 2
            jobs.append(("flaky", priority, {"counter": str(counters / f"c{n}"), "fail_times": fail_times}))
        elif roll < 0.98:
            jobs.append(("sleep", priority, {"seconds": 0.2}))
        else:
            jobs.append(("flaky", priority, {"counter": str(counters / f"c{n}"), "fail_times": 99}))
    return jobs


def enqueue_all(client, settings, jobs) -> list[str]:
    from jobctl.core.bulk import enqueue_many

    ids = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for job_type, priority, payload in jobs:
        groups.setdefault((job_type, priority), []).append(payload)
    for (job_type, priority), payloads in groups.items():
        ids += enqueue_many(client, settings, job_type, payloads, queue=QUEUE, priority=priority)
    return ids


@pytest.mark.timeout(200)
@pytest.mark.parametrize("seed", SEEDS)
def test_no_job_is_lost_when_workers_and_the_server_are_killed(seed, tmp_path, monkeypatch):
    from jobctl.config import load_settings

    rng = random.Random(seed)
    data = scratch_dir()
    server = DurableServer(data)
    server.start()
    config = tmp_path / "jobctl.toml"
    config.write_text(POLICY)
    env = {
        "REDIS_URL": server.url,
        "JOBCTL_CONFIG": str(config),
        "JOBCTL_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "JOBCTL_MAINTENANCE_INTERVAL": str(MAINTENANCE),
        "JOBCTL_ALERT_COOLDOWN": "0",
        "JOBCTL_LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    counters = tmp_path / "counters"
    counters.mkdir()
    client = server.client(socket_timeout=10)
    workers = WorkerPool([QUEUE], count=2, env=dict(os.environ), log_dir=tmp_path / "logs", cwd=tmp_path)
    try:
        ids = enqueue_all(client, load_settings(), job_mix(rng, counters))
        assert len(set(ids)) == JOBS
        plan = Plan(
            kill_every=1.0,
            server_events=((0.4, 6.0, "kill"),),
            chaos_until=0.9,
            min_kills=8,
            chaos_max=12.0,
            settle=SETTLE,
            stop_on_lost=True,
        )
        outcome = ChaosRun(
            client,
            ids,
            server=server,
            workers=workers,
            plan=plan,
            bound=BOUND,
            rng=rng,
            queues=physical(QUEUE),
            log=print,
        ).run()
    finally:
        workers.stop_all()
        client.close()
        server.kill()
        shutil.rmtree(data, ignore_errors=True)
    print(outcome.report())
    for elapsed, line in outcome.history:
        print(f"{elapsed:5.1f} s  {line}")
    final = outcome.final
    problems = []
    if final.lost:
        problems.append(f"{len(final.lost)} lost")
    if final.stuck:
        problems.append(f"{len(final.stuck)} stuck (lease ran out over {BOUND:g} s ago, not reclaimed)")
    unfinished = final.pending() - set(final.lost) - set(final.stuck)
    if unfinished and not outcome.stopped_on_lost:
        problems.append(
            f"{len(unfinished)} more neither completed nor dead-lettered "
            f"{outcome.settle_seconds:.0f} s after the chaos "
            f"({len(final.overdue)} of them retries overdue by over {BOUND:g} s)"
        )
    if problems:
        report = f"{outcome.report()}\n{workers.tail()}"
        pytest.fail(f"seed {seed}: {'; '.join(problems)}\n{report}", pytrace=False)
    # the run really was chaotic, and exercised retries and dead-lettering
    assert outcome.server_events and outcome.kills >= 5, outcome.report()
    assert final.counts["dead"] >= 1 and final.counts["completed"] >= JOBS * 0.9, outcome.report()


def test_the_server_keeps_acknowledged_writes_across_a_sigkill():
    """The premise of the chaos test: the server itself loses nothing it acknowledged."""
    data = scratch_dir()
    server = DurableServer(data)
    server.start()
    client = server.client()
    try:
        client.rpush("chaos:probe", *range(500))
        server.kill()
        server.start()
        assert client.llen("chaos:probe") == 500
    finally:
        client.close()
        server.kill()
        shutil.rmtree(data, ignore_errors=True)
