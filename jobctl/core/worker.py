"""jobctl's worker: RQ's SimpleWorker (no fork per job) plus what on-call needs from it.

On top of RQ it records every attempt on the job, skips the remaining attempts for a
non-retryable failure, moves exhausted jobs to the dead-letter queue (and alerts), heartbeats
from a thread while a job runs (so a killed worker's job is found abandoned within
3 x JOBCTL_HEARTBEAT_INTERVAL + JOBCTL_MAINTENANCE_INTERVAL), honours paused queues, can stop
the job in hand on `jobctl job cancel`, and enforces keep-completed / keep-failed counts.

With JOBCTL_ENCRYPTION_KEYS set, a failure's traceback is stored encrypted like the job's data. A
worker that dequeues a job none of its keys opens (no keys, or the wrong ones) neither runs nor
fails it: the job goes back to the front of its queue untouched and the worker stops with an error
(see `refusal`), so a misconfigured worker cannot turn good jobs into dead letters.
"""

from __future__ import annotations

import logging
import math
import os
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import redis
from rq import SimpleWorker
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.scheduler import run as run_scheduler
from rq.worker import WorkerStatus

from jobctl.config import Settings
from jobctl.core import dlq, keys, logs, metrics, payloads
from jobctl.core.catalog import PRIORITIES, QueuePolicy, get_policy, split_physical
from jobctl.core.jobtypes import FUNC_TO_TYPE
from jobctl.core.lifetime import die_with_parent
from jobctl.core.retention import Retention
from jobctl.errors import UsageError

log = logging.getLogger("jobctl.worker")

STOP_SIGNAL = signal.SIGUSR1
PAUSE_CACHE_SECONDS = 1.0
IDLE_POLL_SECONDS = 5
WORKER_TTL = 30
MESSAGE_LIMIT = 500


def physical_queue_names(settings: Settings, queue_names: Sequence[str]) -> list[str]:
    """Priority-major order: every queue's high before any normal before any low."""
    if not queue_names:
        raise UsageError("no queue given", "pass --queue NAME (repeatable)")
    policies = [get_policy(settings.queues, name) for name in queue_names]
    for policy in policies:
        if policy.is_dead_letter:
            raise UsageError("the dead-letter queue has no workers", "replay its jobs with `jobctl dlq retry`")
    return [p.physical(prio) for prio in PRIORITIES for p in policies]


def _scheduler_main(scheduler: RQScheduler) -> None:
    die_with_parent()
    run_scheduler(scheduler)


class JobctlScheduler(RQScheduler):
    """RQ's scheduler process, tied to the life of the worker that forked it."""

    def start(self):
        self._status = self.Status.STARTED
        self._connection = None  # a Redis connection must not cross a fork
        self._process = multiprocessing.get_context("fork").Process(target=_scheduler_main, args=(self,),
                                                                   name="Scheduler")
        self._process.start()
        return self._process


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak (ru_maxrss, KiB on Linux)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


class JobStopped(Exception):
    """Raised inside a running job when an admin cancels it (`jobctl job cancel`)."""

    retryable = False


_SET_META_IF_EXISTS = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'meta', ARGV[1]) end"


class JobctlJob(Job):
    """RQ's Job, recording each attempt's start in the same round trip that marks it started."""

    def prepare_for_execution(self, worker_name: str, pipeline) -> None:
        super().prepare_for_execution(worker_name, pipeline)
        attempts = self.meta.setdefault("attempts", [])
        for attempt in attempts:
            if attempt.get("outcome") == "running":  # its worker died: the crash was an attempt too
                attempt.update(outcome="abandoned", error_type="AbandonedJobError",
                               error_message="the worker stopped sending heartbeats")
        attempts.append({"n": len(attempts) + 1, "started_at": _iso(self.started_at), "ended_at": None,
                         "worker": worker_name, "outcome": "running"})
        pipeline.hset(self.key, "meta", self._serialize_meta())

    retry_after: float | None = None  # set from the failure, read by RQ's retry() below

    def get_retry_interval(self) -> int:
        backoff = super().get_retry_interval()
        if not self.retry_after:
            return backoff
        # RQ stores the due time in whole seconds, rounded down: one more second keeps "not before"
        return max(backoff, math.ceil(self.retry_after) + 1)

    def finish_attempt(self, outcome: str, exc: BaseException | None = None) -> None:
        attempts = self.meta.get("attempts") or [{"n": 1, "started_at": _iso(self.started_at)}]
        self.meta["attempts"] = attempts
        current = attempts[-1]
        current.update(outcome=outcome, ended_at=_iso(self.ended_at) or datetime.now(timezone.utc).isoformat())
        if exc is not None:
            current.update(error_type=type(exc).__name__, error_message=str(exc)[:MESSAGE_LIMIT])
            if getattr(exc, "retry_after", None):
                current["retry_after"] = exc.retry_after


class JobctlWorker(SimpleWorker):
    """SimpleWorker with attempts, dead-lettering, thread heartbeats, pause and cancel (see module doc).

    Heartbeats (three commands, three times per job in RQ) go out as one round trip, and the one
    after each job also carries that job's bookkeeping: meta, retention trim.
    """

    def __init__(self, *args, settings: Settings, **kwargs):
        # set before RQ's __init__, which already reads some of the properties below
        self._settings = settings
        self._policies = dict(settings.queues)
        self._retention = Retention()
        self._after_job: list[Callable] = []
        self._last_exception: BaseException | None = None
        self._paused: frozenset[str] = frozenset()
        self._paused_checked = 0.0
        self._running: tuple[Job, object] | None = None
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._main_thread = threading.main_thread().ident
        self.refusal: payloads.EncryptedData | None = None  # why this worker stopped on its own
        kwargs.setdefault("maintenance_interval", settings.maintenance_interval)
        # heartbeats come every few seconds (see dequeue_timeout), so a dead worker's record can
        # expire after 90 s instead of RQ's 8 minutes of showing a ghost in `worker list`
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)

    # --- heartbeats -----------------------------------------------------------------------------

    @property
    def dequeue_timeout(self) -> int:
        # short blocking pops: maintenance, pause and stop requests are noticed within seconds
        return max(1, min(IDLE_POLL_SECONDS, int(self._settings.maintenance_interval)))

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return int(3 * self._settings.heartbeat_interval) + 1

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            pipe.hset(self.key, "rss_bytes", resident_bytes())  # for `worker list` and the dash
            while self._after_job:
                self._after_job.pop(0)(pipe)
            pipe.execute()

    def _beat_while_running(self) -> None:
        interval = self._settings.heartbeat_interval
        while not self._beat_stop.wait(interval):
            running = self._running
            if running is None:
                continue
            try:
                self.maintain_heartbeats(*running)
            except Exception as exc:  # the job goes on; a missed beat or two is survivable
                self.log.warning("heartbeat failed: %s", exc)

    def _ensure_heartbeat_thread(self) -> None:
        # started with the first job, after RQ forked the scheduler: forking with threads running
        # can leave a child holding a copy of a lock that no thread of its own will ever release
        if self._beat_thread is None:
            signal.signal(STOP_SIGNAL, self._on_stop_signal)
            self._beat_thread = threading.Thread(target=self._beat_while_running, name="jobctl-heartbeat",
                                                 daemon=True)
            self._beat_thread.start()

    def teardown(self):
        self._beat_stop.set()
        super().teardown()

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None):
        # RQ's own version, with JobctlScheduler in place of RQScheduler
        kwargs = {k: v for k, v in (("date_format", date_format), ("log_format", log_format)) if v}
        self.scheduler = JobctlScheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                         logging_level=logging_level or self.log.level, **kwargs)
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    # --- running a job ----------------------------------------------------------------------------

    def execute_job(self, job, queue):
        locked = payloads.locked(job)
        if locked is not None:
            self._give_back(job, queue, locked)
            return
        self._ensure_heartbeat_thread()
        execution = self.prepare_execution(job)
        self._running = (job, execution)
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._running = None
        self.set_state(WorkerStatus.IDLE)

    def _give_back(self, job, queue, locked: payloads.EncryptedData) -> None:
        """Put a job this worker cannot decrypt back where it was, untouched, and stop."""
        with self.connection.pipeline() as pipe:
            pipe.lrem(IntermediateQueue(queue.key, self.connection).key, 1, job.id)  # RQ's LMOVE, when used
            pipe.lpush(queue.key, job.id)
            pipe.execute()
        self.refusal = payloads.EncryptedData(
            f"job {job.id} on {queue.name} is encrypted and no key of this worker opens it "
            f"({locked.message}); it is back on its queue, untouched, and this worker stopped", locked.hint)
        self.log.error("%s", self.refusal.message)
        self._stop_requested = True

    def _on_stop_signal(self, signum, frame) -> None:
        # installed for good, not per job: a late signal between two jobs must not kill the worker
        running = self._running
        if running is not None and running[0].id == self._stopped_job_id:
            raise JobStopped("stopped on request (jobctl job cancel)")

    def kill_horse(self, sig=None):
        """`jobctl job cancel` on a running job: interrupt it in the main thread (there is no horse)."""
        if self._running is not None:
            signal.pthread_kill(self._main_thread, STOP_SIGNAL)

    def handle_exception(self, job, *exc_info):
        self._last_exception = exc_info[1]
        return super().handle_exception(job, *exc_info)

    def _record_metrics(self, job, queue, outcome: str, error: BaseException | None = None, **flags: bool) -> None:
        ended = job.ended_at or datetime.now(timezone.utc)
        pairs = metrics.job_increments(outcome, enqueued_at=job.enqueued_at, started_at=job.started_at,
                                       ended_at=ended, **flags)
        name = split_physical(queue.name)[0]
        self._after_job.append(lambda pipe: metrics.record(pipe, name, pairs))
        if logs.job_log.isEnabledFor(logging.INFO):
            logs.log_attempt({
                "job_id": job.id, "type": FUNC_TO_TYPE.get(job.func_name, job.func_name), "queue": name,
                "attempt": len(job.meta.get("attempts", [])) or 1, "worker": self.name,
                "duration_ms": round((ended - job.started_at).total_seconds() * 1000, 1) if job.started_at else None,
                "outcome": "dead-lettered" if flags.get("dead") else "retrying" if flags.get("retried") else outcome,
                "error": f"{type(error).__name__}: {error}"[:500] if error is not None else None})

    def handle_job_success(self, job, queue, started_job_registry, execution):
        super().handle_job_success(job, queue, started_job_registry, execution)
        self._record_metrics(job, queue, "completed")
        if isinstance(job, JobctlJob):
            job.finish_attempt("succeeded")
            meta = job._serialize_meta()
            self._after_job.append(lambda pipe: pipe.eval(_SET_META_IF_EXISTS, 1, job.key, meta))
        self._schedule_trim(queue, "completed")

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        exc, self._last_exception = self._last_exception, None
        stopped = self._stopped_job_id == job.id
        retryable = getattr(exc, "retryable", True)
        if isinstance(job, JobctlJob):
            job.finish_attempt("stopped" if stopped else "failed", exc)
            job.retry_after = getattr(exc, "retry_after", None)
        if not retryable and not stopped:
            job.retries_left = 0  # a permanent failure skips the remaining attempts
        dead = not stopped and not job.should_retry
        # RQ keeps the traceback in the job hash and its results stream: it can quote the payload
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=payloads.seal_text(exc_string), execution=execution)
        if not stopped:
            self._record_metrics(job, queue, "failed", exc, retried=not dead, dead=dead)
        if dead:
            entry = dlq.add(self.connection, job, exc_string, self.name)
            self._alert(entry)
        elif stopped and isinstance(job, JobctlJob):
            meta = job._serialize_meta()
            self._after_job.append(lambda pipe: pipe.eval(_SET_META_IF_EXISTS, 1, job.key, meta))
        self._schedule_trim(queue, "failed")

    def _alert(self, entry: dict) -> None:
        from jobctl.core import alerts

        try:
            alerts.dead_letter_alert(self.connection, self._settings, entry)
        except Exception:  # an alert must never take the worker down
            self.log.exception("dead-letter alert for job %s failed", entry.get("job_id"))

    def _policy_for(self, queue) -> QueuePolicy | None:
        return self._policies.get(split_physical(queue.name)[0])

    def _schedule_trim(self, queue, state: str) -> None:
        policy = self._policy_for(queue)
        if policy:
            self._after_job.append(lambda pipe: self._retention.trim(pipe, policy, state))

    # --- maintenance --------------------------------------------------------------------------------

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()  # includes RQ's abandoned-job detection
        lock = f"{keys.JOBCTL}:sweep"
        if not self.connection.set(lock, self.name, nx=True, ex=max(1, int(self.maintenance_interval))):
            return
        try:
            for entry in dlq.sweep_failed(self.connection, self.queue_names(), self.name):
                self._alert(entry)
            dlq.enforce_retention(self.connection, self._settings)
            from jobctl.core import alerts

            alerts.flush_pending_alerts(self.connection, self._settings)
        except redis.RedisError:
            raise
        except Exception:
            self.log.exception("dead-letter maintenance failed")

    # --- paused queues ----------------------------------------------------------------------------

    def _paused_names(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._paused_checked > PAUSE_CACHE_SECONDS:
            self._paused = frozenset(m.decode() for m in self.connection.smembers(keys.paused_queues()))
            self._paused_checked = now
        return self._paused

    @property
    def _ordered_queues(self):
        queues = self.__dict__.get("_jobctl_ordered_queues", [])
        paused = self._paused_names() if queues else frozenset()
        if not paused:
            return queues
        active = [q for q in queues if split_physical(q.name)[0] not in paused]
        if not active:
            raise _AllPaused
        return active

    @_ordered_queues.setter
    def _ordered_queues(self, value):
        self.__dict__["_jobctl_ordered_queues"] = list(value)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except _AllPaused:
                if timeout is None:  # burst: a paused queue counts as empty
                    return None
                self.heartbeat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                time.sleep(1)


class _AllPaused(Exception):
    """Every queue this worker serves is paused."""
