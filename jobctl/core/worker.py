"""jobctl's worker: RQ's data model, jobctl's own atomic lifecycle (see jobctl.core.lifecycle).

Every state change is one server-side script, so a worker or server killed at any instant leaves
each job in exactly one place from which it runs, retries or dead-letters:

* the worker claims a batch of jobs (high before normal before low) into `rq:wip:<queue>` under a
  lease of 3 x JOBCTL_HEARTBEAT_INTERVAL, renewed by a heartbeat thread while it holds them;
* it runs them, and records their outcomes (attempt, result, retry, dead letter, metrics, retention)
  together with the next claim in one call; fast jobs are batched, a job that took longer than
  FLUSH_AFTER is recorded at once;
* every worker takes expired leases back every JOBCTL_MAINTENANCE_INTERVAL (no lock to go stale),
  so a killed worker's jobs run again within 3 x heartbeat + maintenance interval, the crash counted
  as an attempt (`abandoned`);
* idle workers block on a wake-up key, never on the job lists.

`threads > 1` runs jobs on a thread pool in one process (for I/O-bound job types: email, payments,
HTTP fetches); the default runs them in the worker's main thread, where job timeouts are enforced
with SIGALRM. In thread mode a timeout cannot interrupt a job: the job's own I/O timeouts apply.

With JOBCTL_ENCRYPTION_KEYS set, a worker that claims a job none of its keys opens neither runs nor
fails it: the job goes back to the front of its queue untouched and the worker stops with an error
(see `refusal`), so a misconfigured worker cannot turn good jobs into dead letters.
"""

from __future__ import annotations

import copy
import ctypes
import json
import logging
import os
import queue as queue_mod
import resource
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import redis
import rq.job as rq_job
from rq import SimpleWorker
from rq.command import PUBSUB_CHANNEL_TEMPLATE
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException

from jobctl.config import Settings
from jobctl.core import alerts, audit, dlq, keyspace, liveness, logs, metrics, outcomes, payloads
from jobctl.core.attempts import merge_abandoned
from jobctl.core.catalog import PRIORITIES, QueuePolicy, get_policy, queue_catalog
from jobctl.core.connection import decoded_members
from jobctl.core.jobtypes import FUNC_TO_TYPE, TEST_ONLY_FUNCS, test_only_refusal
from jobctl.core.lifecycle import Claimed, Lifecycle, PhysicalQueue, utc_iso
from jobctl.core.outage import Outage
from jobctl.core.outcomes import JobctlJob, Run  # JobctlJob: tests and callers import it from here
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.retention import Retention
from jobctl.errors import JobctlError, PermanentJobFailure, UsageError

log = logging.getLogger("jobctl.worker")

STOP_SIGNAL = signal.SIGUSR1
PAUSE_CACHE_SECONDS = 1.0
IDLE_POLL_SECONDS = 1.0  # jobs pushed by plain RQ (no wake-up) and due retries are seen this fast
PROMOTE_EVERY = 0.5
LEASE_MARGIN = 0.25
WORKER_TTL = 30
FLUSH_AFTER = 0.02  # outcomes of fast jobs wait at most this long to be recorded (and batched)
BATCH_SECONDS = 0.02  # a claim takes about this much work for this worker (adaptive prefetch)
MAX_PREFETCH = 64
REPEAT_SIGNAL_GRACE = 1.0  # a second stop signal within this counts as the same one (as RQ does)


def worker_name(settings: Settings) -> str:
    """HOST:PID:RANDOM, as the scheduler names itself: a worker's host shows in its name wherever the
    name alone is printed (logs, attempts, `job show`), and names from many hosts never collide."""
    return f"{settings.host_name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def physical_queue_names(settings: Settings, queue_names: Sequence[str]) -> list[str]:
    """Priority-major order: every queue's high before any normal before any low."""
    if not queue_names:
        raise UsageError("no queue given", "pass --queue NAME (repeatable)")
    policies = [get_policy(queue_catalog(settings), name) for name in queue_names]
    for policy in policies:
        if policy.is_dead_letter:
            raise UsageError(
                "the dead-letter queue has no workers", "replay its jobs with `jobctl dlq retry`"
            )
    return [p.physical(prio) for prio in PRIORITIES for p in policies]


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak (ru_maxrss, KiB on Linux)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _utc_timestamp(date_str: bytes | str) -> datetime:  # (rq's parameter name: a drop-in replacement)
    """rq.utils.str_to_date, in C: RQ parses four timestamps per job with strptime, which took 40 %
    of a no-op job's CPU; fromisoformat reads the same format (with its Z) to the same aware UTC value."""
    if isinstance(date_str, bytes):
        date_str = date_str.decode()
    if not date_str:
        raise ValueError("Empty string or bytestring provided")
    return datetime.fromisoformat(date_str).astimezone(UTC)


rq_job.str_to_date = _utc_timestamp  # the name Job.restore calls


def _test_only_failure(func: str | None) -> PermanentJobFailure:
    """A test-only job (sleep, fail, flaky) queued before JOBCTL_TEST_JOB_TYPES was turned off, or by a
    process that had it on: not run, dead-lettered saying why, so it is neither lost nor silently run;
    `dlq retry` brings it back once the setting is on."""
    refusal = test_only_refusal(FUNC_TO_TYPE.get(func, str(func)))
    return PermanentJobFailure(f"{refusal.message}: not run on this worker; {refusal.hint}")


class JobStopped(Exception):
    """Raised inside a running job when an admin cancels it (`jobctl job cancel`)."""

    retryable = False


class _Timeout:
    """SIGALRM-based job timeout for the main thread, installed once (RQ's sets a handler per job)."""

    def __init__(self):
        signal.signal(signal.SIGALRM, self._fire)
        self.seconds = 0.0

    def _fire(self, signum, frame):
        raise JobTimeoutException(f"Task exceeded maximum timeout value ({self.seconds:g} seconds)")

    def arm(self, seconds: float) -> None:
        self.seconds = seconds
        if seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.seconds = 0.0


class JobctlWorker:
    """A worker on `queues` (RQ Queue objects or physical names), see the module doc.

    `work()` returns how many jobs it processed; `successful_job_count`, `failed_job_count` and
    `refusal` (why it stopped on its own) say more.
    """

    def __init__(
        self,
        queues,
        *,
        connection: redis.Redis,
        settings: Settings,
        serializer=PayloadSerializer,
        job_class: type[JobctlJob] = JobctlJob,
        name: str | None = None,
        threads: int = 1,
        outage: Outage | None = None,
        **_rq_kwargs,
    ):
        self.connection = connection
        self.outage = outage or Outage()  # run_worker shares its own: one outage across reconnects
        self._settings = settings
        self.serializer = serializer
        self.job_class = job_class
        names = [getattr(q, "name", q) for q in queues]
        self.queues = [PhysicalQueue.of(n) for n in names]
        self.threads = max(1, threads)
        self.name = name or worker_name(settings)
        # RQ's own worker record, so `rq info`, `jobctl worker list` and rq-dashboard see this worker
        self._rq = SimpleWorker(
            list(queues), connection=connection, name=self.name, serializer=serializer, worker_ttl=WORKER_TTL
        )
        self._rq.hostname = settings.host_name  # JOBCTL_HOSTNAME, where RQ would take the machine's name
        self.key = self._rq.key
        self.lifecycle = Lifecycle(connection)
        self._template = job_class(connection=connection, serializer=serializer)
        self._policies: dict[str, QueuePolicy] = dict(queue_catalog(settings))
        self._retention = Retention()
        # three heartbeats, less a margin for the reclaim's own round trip: a dead worker's jobs are
        # back within 3 x heartbeat + maintenance interval (README, Crash recovery)
        self.lease = 3 * settings.heartbeat_interval - min(LEASE_MARGIN, settings.heartbeat_interval / 4)
        self.successful_job_count = 0
        self.failed_job_count = 0
        self.refusal: payloads.EncryptedData | None = None
        self._stop_requested = False
        self._signals = 0
        self._state = "idle"  # as the worker record says (the claim script sets busy)
        self._first_signal = 0.0
        self._held: dict[str, Claimed] = {}  # claimed and not yet recorded: leases the heartbeat renews
        self._held_lock = threading.Lock()
        self._running: dict[str, int] = {}  # job id -> thread ident, while it runs
        self._stopping_ids: set[str] = set()
        self._ready: deque[Claimed] = deque()
        self._finished: list[dict] = []
        self._runs: list[Run] = []
        self._first_unflushed = 0.0
        self._avg_seconds = BATCH_SECONDS  # unknown: claim one at a time until jobs prove fast
        self._paused: frozenset[str] = frozenset()
        self._paused_checked = 0.0
        self._next_maintenance = 0.0
        self._beat_stop = threading.Event()
        self._timeout: _Timeout | None = None
        self._completions: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self._pubsub_failed = False

    def queue_names(self) -> list[str]:
        return [q.name for q in self.queues]

    # --- the loop ---------------------------------------------------------------------------------

    def work(self, burst: bool = False, max_jobs: int | None = None, **_rq_kwargs) -> int:
        """Work until stopped (or, with `burst`, until the queues are empty); returns jobs processed.
        What the worker queues itself (an alert email) is audited as this worker, face worker; what a
        job queues as that job (`_run`), not as whoever started the process."""
        with audit.acting_as(audit.Actor(f"worker:{self.name}", "worker")):
            return self._work(burst, max_jobs)

    def _work(self, burst: bool, max_jobs: int | None) -> int:
        self._start()
        self.outage.ended()
        processed = 0
        try:
            self._maintain()
            if self.threads == 1:
                processed = self._work_inline(burst, max_jobs)
            else:
                processed = self._work_threaded(burst, max_jobs)
        finally:
            self._finish_up()
        return processed

    def _work_inline(self, burst: bool, max_jobs: int | None) -> int:
        processed = 0
        while not self._stop_requested:
            if not self._ready:
                claims = self._exchange(self._prefetch())
                if not claims:
                    if self._idle(burst):
                        break
                    continue
                self._ready.extend(claims)
            claim = self._ready.popleft()
            run = self._run(claim)
            if run is None:  # given back: this worker cannot read it
                break
            self._record(run)
            processed += 1
            if max_jobs is not None and processed >= max_jobs:
                break
            if self._finished and time.monotonic() - self._first_unflushed > FLUSH_AFTER:
                self._exchange(0)
            self._periodic()
        return processed

    def _work_threaded(self, burst: bool, max_jobs: int | None) -> int:
        processed = 0
        in_flight: dict[str, Future] = {}  # claim member -> submitted job: running, or queued in the pool
        poll = 0.005
        last_claim = 0.0
        min_batch = max(1, self.threads // 8)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="jobctl-job") as pool:
            while True:
                while True:  # collect what finished
                    try:
                        member, run = self._completions.get_nowait()
                    except queue_mod.Empty:
                        break
                    in_flight.pop(member, None)
                    if run is not None:
                        self._record(run)
                        processed += 1
                stopping = self._stop_requested or (
                    max_jobs is not None and processed + len(in_flight) >= max_jobs
                )
                if self._stop_requested:
                    self._cancel_queued(in_flight)
                # a few jobs queued in the pool beyond its threads keep every thread busy while this
                # thread waits on Redis; only while jobs are short (they hold their leases meanwhile)
                depth = self.threads + (self.threads // 2 if self._avg_seconds < 1.0 else 0)
                free = 0 if stopping else depth - len(in_flight)
                if max_jobs is not None:
                    free = min(free, max_jobs - processed - len(in_flight))
                now = time.monotonic()
                # claim for several free slots at once (jobs started together end together), but
                # never leave a slot idle longer than `poll`
                if free > 0 and (free >= min_batch or not in_flight or now - last_claim >= poll):
                    last_claim = now
                    claims = self._exchange(free)
                    for claim in claims:
                        in_flight[claim.member] = pool.submit(self._run_in_thread, claim)
                    if claims:
                        poll = 0.005
                elif self._finished and time.monotonic() - self._first_unflushed > FLUSH_AFTER:
                    self._exchange(0)
                if not in_flight:
                    if stopping or self.refusal is not None:
                        break
                    if self._idle(burst):
                        break
                    continue
                try:  # wait for a job to finish; poll for more work meanwhile when slots are free
                    item = self._completions.get(timeout=poll if free > 0 else 0.05)
                except queue_mod.Empty:
                    poll = min(poll * 2, 0.2)
                else:
                    self._completions.put(item)
                self._periodic()
        return processed

    @staticmethod
    def _cancel_queued(in_flight: dict) -> None:
        """Stopping: jobs still queued in the pool never start (their claims are given back at exit)."""
        for member in [m for m, future in in_flight.items() if future.cancel()]:
            del in_flight[member]

    def _run_in_thread(self, claim: Claimed) -> None:
        try:
            self._completions.put((claim.member, self._run(claim)))
        except BaseException:  # never lose track of an in-flight job
            self._completions.put((claim.member, None))
            raise

    def _idle(self, burst: bool) -> bool:
        """Nothing claimable: True when the worker should stop (burst), else wait for a wake-up."""
        self._exchange(0)
        if burst:
            return self.lifecycle.promote(self.queues) == 0
        if self._state != "idle":
            self.connection.hset(self.key, mapping={"state": "idle", "current_job": ""})
            self._state = "idle"
        markers = list({q.marker for q in self._active_queues()}) or [self.queues[0].marker]
        timeout = max(0.05, min(IDLE_POLL_SECONDS, self._next_maintenance - time.monotonic()))
        self.connection.bzpopmin(markers, timeout=timeout)
        self._periodic()
        return False

    def _prefetch(self) -> int:
        """How many jobs to claim: about BATCH_SECONDS of work, at least one."""
        return max(1, min(MAX_PREFETCH, int(BATCH_SECONDS / max(self._avg_seconds, 1e-5))))

    # --- one job ----------------------------------------------------------------------------------

    def _run(self, claim: Claimed) -> Run | None:
        job = self._new_job(claim.job_id)
        job.restore(claim.fields)
        locked = payloads.locked(job)
        if locked is not None:
            self._give_back(claim, locked)
            return None
        # SIGALRM only reaches the main thread; the worker installs the timer when it starts there
        timer = self._timeout if threading.current_thread() is threading.main_thread() else None
        started = time.time()
        run = Run(claim, job, started, started)
        self._running[job.id] = threading.get_ident()
        try:
            if timer is not None:
                timeout = job.timeout if job.timeout is not None else Queue.DEFAULT_TIMEOUT
                timer.arm(timeout if timeout and timeout > 0 else 0)
            try:
                if job.func_name in TEST_ONLY_FUNCS and not self._settings.test_job_types:
                    raise _test_only_failure(job.func_name)
                with audit.acting_as(audit.Actor(f"job:{job.id}", "worker")):  # pool threads: no actor yet
                    run.return_value = job.perform()
            finally:
                if timer is not None:
                    timer.disarm()
        except Exception as exc:  # noqa: BLE001 - whatever a job raises is its outcome
            run.error, run.exc_string = exc, outcomes.failure_text(exc)
            run.stopped = isinstance(exc, JobStopped)
        finally:
            self._running.pop(job.id, None)
            self._stopping_ids.discard(job.id)
        run.ended = time.time()
        self._avg_seconds = 0.8 * self._avg_seconds + 0.2 * (run.ended - started)
        merge_abandoned(job, claim.fields.get(b"jobctl_abandoned"))
        outcomes.decide(run)
        return run

    def _new_job(self, job_id: str) -> JobctlJob:
        """A blank job to restore into: a copy of a template, because Job.__init__ checks the
        serializer against a runtime Protocol, which cost more than the rest of a no-op job."""
        job = copy.copy(self._template)
        job._id = job_id
        job.webhooks, job._dependency_ids, job.meta = [], [], {}  # the template's mutables stay its own
        return job

    def _record(self, run: Run) -> None:
        """Buffer the outcome for the next exchange (dead letters read their previous entry first)."""
        previous = dlq.previous_entry(self.connection, run.job.id) if run.kind == "dead" else None
        self._finished.append(outcomes.finish_record(run, self.name, previous))
        self._runs.append(run)
        if len(self._finished) == 1:
            self._first_unflushed = time.monotonic()
        if run.kind == "done":
            self.successful_job_count += 1
        elif run.kind != "stopped":
            self.failed_job_count += 1

    def _give_back(self, claim: Claimed, locked: payloads.EncryptedData) -> None:
        """Put a job this worker cannot decrypt back where it was, untouched, and stop."""
        claims = [claim, *self._ready]
        self._ready.clear()
        self.lifecycle.release(claims)
        self._forget(claims)
        self.refusal = payloads.EncryptedData(
            f"job {claim.job_id} on {claim.queue.name} is encrypted and no key of this worker opens it "
            f"({locked.message}); it is back on its queue, untouched, and this worker stopped",
            locked.hint,
        )
        log.error("%s", self.refusal.message)
        self._stop_requested = True

    # --- the one round trip ------------------------------------------------------------------------

    def _exchange(self, n: int) -> list[Claimed]:
        """Record buffered outcomes and claim up to `n` jobs, in one call; retried while Redis is away."""
        runs, finished = self._runs, self._finished
        queues = self._active_queues() if n > 0 else []
        if not finished and not queues:
            return []
        tally = metrics.Tally()
        trims: dict[tuple[str, str], list] = {}
        for run in runs:
            policy = self._policies.get(run.claim.queue.catalogue)
            pairs = outcomes.increments(run)
            if pairs:
                tally.add(run.claim.queue.catalogue, pairs, run.ended)
            state = {"done": "completed", "stopped": "failed"}.get(run.kind)
            if policy is None or state is None:
                continue
            keep = policy.keep_completed if state == "completed" else policy.keep_failed
            if keep is not None:
                trims[(policy.name, state)] = [keep, self._retention.registry_keys(policy, state)]
        worker_counts = [
            [self.key, "successful_job_count", sum(r.kind == "done" for r in runs)],
            [self.key, "failed_job_count", sum(r.kind in ("retry", "dead") for r in runs)],
        ]
        token = uuid.uuid4().hex[:12]
        while True:
            try:
                lost, claims = self.lifecycle.finish_and_claim(
                    finished,
                    increments=tally.increments() + [c for c in worker_counts if c[2]],
                    expires=tally.expires(),
                    trims=list(trims.values()),
                    queues=queues,
                    n=n,
                    worker=self.name,
                    worker_key=self.key,
                    token=token,
                    lease=self.lease,
                )
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.OutOfMemoryError) as exc:
                # the outcomes stay buffered; claims the lost reply may have made expire and are reclaimed
                if self._signals >= 2:
                    raise
                self.outage.wait(exc)  # a burst worker gives up after JOBCTL_REDIS_WAIT
        self.outage.ended()
        if lost:
            log.warning(
                "%d job(s) finished after their lease expired; another worker had taken them back", lost
            )
        done_runs = list(runs)
        self._finished, self._runs = [], []
        with self._held_lock:
            for run in done_runs:
                self._held.pop(run.claim.member, None)
            for claim in claims:
                self._held[claim.member] = claim
        self._after_recorded(done_runs)
        if claims:
            self._state = "busy"  # the claim script said so in the worker's record
        return claims

    def _after_recorded(self, runs: list[Run]) -> None:
        for run in runs:
            if run.failed or logs.job_log.isEnabledFor(logging.INFO):
                self._log_attempt(run)  # its line says when a job was dead-lettered
            if run.kind == "dead" and run.dead_entry is not None:
                self._alert(run.dead_entry)

    def _log_attempt(self, run: Run) -> None:
        job, error = run.job, run.error
        logs.log_attempt(
            {
                "job_id": job.id,
                "type": FUNC_TO_TYPE.get(job.func_name, job.func_name),
                "queue": run.claim.queue.catalogue,
                "attempt": len(job.meta.get("attempts", [])) or 1,
                "max_attempts": run.attempts_allowed,
                "worker": self.name,
                "duration_ms": round((run.ended - run.started) * 1000, 1),
                "outcome": {"dead": "dead-lettered", "retry": "retrying", "done": "completed"}.get(
                    run.kind, "stopped" if run.stopped else "failed"
                ),
                "retry_in": round(max(0.0, run.due - run.ended), 1)
                if run.kind == "retry" and run.due
                else None,
                "error": f"{type(error).__name__}: {error}"[:500] if error is not None else None,
            },
            expected=run.expected,
            exc_info=error,
        )

    def _forget(self, claims) -> None:
        with self._held_lock:
            for claim in claims:
                self._held.pop(claim.member, None)

    def _alert(self, entry: dict) -> None:
        try:
            alerts.dead_letter_alert(self.connection, self._settings, entry)
        except Exception:  # an alert must never take the worker down
            log.exception("dead-letter alert for job %s failed", entry.get("job_id"))

    # --- paused queues, maintenance ----------------------------------------------------------------

    def _active_queues(self) -> list[PhysicalQueue]:
        now = time.monotonic()
        if now - self._paused_checked > PAUSE_CACHE_SECONDS:
            self._paused = frozenset(decoded_members(self.connection.smembers(keyspace.paused_queues())))
            self._paused_checked = now
        if not self._paused:
            return self.queues
        return [q for q in self.queues if q.catalogue not in self._paused]

    def _periodic(self) -> None:
        if time.monotonic() >= self._next_maintenance:
            self._next_maintenance = time.monotonic() + self._settings.maintenance_interval
            self._sweep()

    def _maintain(self) -> None:
        """At start: due jobs onto their queues, expired leases back, then the sweep."""
        self._next_maintenance = time.monotonic() + self._settings.maintenance_interval
        self.lifecycle.promote(self.queues)
        self._reclaim()
        self._sweep()

    def _housekeep(self) -> None:
        """Promotion of due jobs (every PROMOTE_EVERY) and reclaim of expired leases (every
        maintenance interval), on a thread of their own: a long job in the main thread (or a full
        pool) must not delay another worker's recovery past the README's bound."""
        interval = self._settings.maintenance_interval
        next_reclaim = time.monotonic() + interval
        failing = False
        while not self._beat_stop.wait(max(0.01, min(PROMOTE_EVERY, next_reclaim - time.monotonic()))):
            try:
                now = time.monotonic()
                if now >= next_reclaim:  # at a fixed rate, first: the bound counts on it
                    next_reclaim = max(next_reclaim + interval, now + interval / 2)
                    self._reclaim()
                self.lifecycle.promote(self.queues)
                failing = False
            except Exception as exc:  # noqa: BLE001 - Redis away: the next round tries again
                # said once per run of failures: rounds are 0.5 s apart
                log.log(logging.DEBUG if failing else logging.WARNING, "housekeeping failed: %s", exc)
                failing = True

    def _reclaim(self) -> None:
        """Take expired leases back; dead-letter the jobs among them with no attempt left."""
        _, failed = self.lifecycle.reclaim(self.queues)
        for job in Job.fetch_many(failed, connection=self.connection, serializer=self.serializer):
            if job is None or payloads.locked(job):
                continue  # a worker with the key (or the sweep) dead-letters it
            merge_abandoned(job, self.connection.hget(job.key, "jobctl_abandoned"))
            self._alert(
                dlq.add(
                    self.connection,
                    job,
                    "AbandonedJobError: the worker stopped sending heartbeats "
                    "and the job has no attempt left",
                    self.name,
                )
            )

    def _sweep(self) -> None:
        """Dead-letter what reached RQ's failed registries some other way, trim the DLQ, drop expired
        workers' registrations, flush alerts."""
        lock = f"{keyspace.JOBCTL}:sweep"
        if not self.connection.set(
            lock, self.name, nx=True, ex=max(1, int(self._settings.maintenance_interval))
        ):
            return
        try:
            for entry in dlq.sweep_failed(self.connection, self.queue_names(), self.name):
                self._alert(entry)
            dlq.enforce_retention(self.connection, self._settings)
            liveness.prune_registrations(self.connection, queue_catalog(self._settings))
            alerts.flush_pending_alerts(self.connection, self._settings)
        except redis.RedisError:
            raise
        except Exception:
            log.exception("dead-letter maintenance failed")

    # --- start, heartbeats, signals, stop ------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._rq.register_birth()
        except ValueError:  # a live record by this name: ours, from before a lost connection?
            if self.connection.hget(self.key, "pid") != str(os.getpid()).encode():
                raise
            self.connection.hset(self.key, "death", datetime.now(UTC).isoformat())
            self._rq.register_birth()
        # the heartbeat interval goes on the record so readers with another setting judge it by its own
        self.connection.hset(
            self.key,
            mapping={
                "state": "idle",
                "rss_bytes": resident_bytes(),
                "jobctl_threads": self.threads,
                liveness.INTERVAL_FIELD: self._settings.heartbeat_interval,
            },
        )
        if threading.current_thread() is threading.main_thread():
            self._timeout = _Timeout()
            signal.signal(STOP_SIGNAL, self._on_stop_signal)
            self._previous_handlers = {
                s: signal.signal(s, self._on_shutdown_signal) for s in (signal.SIGTERM, signal.SIGINT)
            }
        else:
            self.threads = max(self.threads, 2)  # no signals off the main thread: run jobs on the pool
            self._previous_handlers = {}
        self._pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(**{PUBSUB_CHANNEL_TEMPLATE % self.name: self._on_command})
        self._pubsub_thread = self._pubsub.run_in_thread(
            sleep_time=0.1, daemon=True, exception_handler=self._on_pubsub_error
        )
        self._beat_thread = threading.Thread(target=self._beat, name="jobctl-heartbeat", daemon=True)
        self._beat_thread.start()
        self._housekeeping = threading.Thread(target=self._housekeep, name="jobctl-housekeeping", daemon=True)
        self._housekeeping.start()
        log.info(
            "worker %s started on %s (%s)",
            self.name,
            ", ".join(self.queue_names()),
            f"{self.threads} threads" if self.threads > 1 else "1 job at a time",
        )

    def _beat(self) -> None:
        interval = self._settings.heartbeat_interval
        failing = False
        while not self._beat_stop.wait(interval):
            try:
                self.heartbeat()
                failing = False
            except Exception as exc:  # noqa: BLE001 - a missed beat or two is survivable: the lease is three beats
                log.log(logging.DEBUG if failing else logging.WARNING, "heartbeat failed: %s", exc)
                failing = True

    def heartbeat(self) -> None:
        """Renew every held lease and the worker record, in one round trip."""
        with self._held_lock:
            held = list(self._held.values())
        running = next(iter(list(self._running)), "")  # copied at once: pool threads change it
        with self.connection.pipeline(transaction=False) as pipe:
            self.lifecycle.renew(pipe, held, self.lease)
            pipe.hset(
                self.key,
                mapping={
                    "last_heartbeat": utc_iso(time.time()),
                    "rss_bytes": resident_bytes(),
                    "current_job": running,
                },
            )
            pipe.expire(self.key, WORKER_TTL + 60)
            pipe.execute()

    def _on_command(self, message) -> None:
        try:
            payload = json.loads(message["data"])
        except (TypeError, ValueError):
            return
        command = payload.get("command")
        if command == "shutdown":
            self._stop_requested = True
        elif command == "stop-job":
            self.stop_job(payload.get("job_id", ""))

    def _on_pubsub_error(self, exc, pubsub, thread) -> None:
        # once per worker: it retries every second while Redis is away (the outage is logged already)
        log.log(logging.DEBUG if self._pubsub_failed else logging.WARNING, "command channel: %s", exc)
        self._pubsub_failed = True
        time.sleep(1)

    def stop_job(self, job_id: str) -> None:
        """`jobctl job cancel` on a job this worker runs: raise JobStopped inside it."""
        ident = self._running.get(job_id)
        if ident is None:
            return
        self._stopping_ids.add(job_id)
        if ident == threading.main_thread().ident:
            signal.pthread_kill(ident, STOP_SIGNAL)
        else:  # a pool thread: an asynchronous exception, raised at its next Python instruction
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(JobStopped))

    def _on_stop_signal(self, signum, frame) -> None:
        # installed for good, not per job: a late signal between two jobs must not kill the worker
        main_job = next((j for j, t in self._running.items() if t == threading.main_thread().ident), None)
        if main_job is not None and main_job in self._stopping_ids:
            raise JobStopped("stopped on request (jobctl job cancel)")

    def _on_shutdown_signal(self, signum, frame) -> None:
        now = time.monotonic()
        if self._signals and now - self._first_signal < REPEAT_SIGNAL_GRACE:
            return  # Ctrl+C reaches the whole process group, and a supervisor forwards it too
        self._signals += 1
        self._stop_requested = True
        if self._signals == 1:
            self._first_signal = now
            log.info("warm shutdown: finishing the job in hand (signal again to stop now)")
        else:
            raise KeyboardInterrupt

    def request_stop(self) -> None:
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def _finish_up(self) -> None:
        """Record what finished, give back what never started, unregister."""
        try:
            if self._finished:
                self._exchange(0)
            with self._held_lock:
                unstarted = list(self._held.values())
            if unstarted:
                released = self.lifecycle.release(unstarted)
                self._forget(unstarted)
                log.info("gave %d claimed job(s) back to their queues", released)
            self._rq.register_death()
        except (redis.RedisError, JobctlError) as exc:  # what is still held expires and is reclaimed
            log.error(
                "could not unregister cleanly (%s); held jobs are taken back when their leases expire", exc
            )
        finally:
            self._beat_stop.set()
            self._housekeeping.join(2)  # a round in flight ends before the caller moves on
            try:
                self._pubsub_thread.stop()
                self._pubsub_thread.join(2)
                self._pubsub.close()
            except Exception:  # noqa: BLE001 - the channel only carries cancel requests; nothing to lose at exit
                pass
            for sig, handler in self._previous_handlers.items():
                signal.signal(sig, handler)
            if self._timeout is not None:
                signal.signal(STOP_SIGNAL, signal.SIG_DFL)
