"""Workers: RQ's SimpleWorker (no fork per job) plus jobctl's retention, run alone or supervised.

A supervisor process keeps N worker processes alive (respawning any that die) and turns the
first SIGTERM/SIGINT into a warm stop for all of them, the second into a hard stop.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.scheduler import run as run_scheduler
from rq.serializers import JSONSerializer

from jobctl.config import Settings
from jobctl.core import runtime
from jobctl.core.catalog import PRIORITIES, QueuePolicy, get_policy, split_physical
from jobctl.core.connection import connect
from jobctl.core.enqueue import rq_queue
from jobctl.core.retention import Retention
from jobctl.errors import RedisUnavailable, UsageError

log = logging.getLogger("jobctl.worker")

RECONNECT_MAX_WAIT = 30.0
HARD_STOP_GRACE = 5.0


def physical_queue_names(settings: Settings, queue_names: Sequence[str]) -> list[str]:
    """Priority-major order: every queue's high before any normal before any low."""
    if not queue_names:
        raise UsageError("no queue given", "pass --queue NAME (repeatable)")
    policies = [get_policy(settings.queues, name) for name in queue_names]
    for policy in policies:
        if policy.is_dead_letter:
            raise UsageError("the dead-letter queue has no workers", "replay its jobs with `jobctl dlq retry`")
    return [p.physical(prio) for prio in PRIORITIES for p in policies]


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to signal this process when its parent dies, so no orphan outlives a killed worker."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the orphan stops at its next lock refresh failure
        pass


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


class JobctlWorker(SimpleWorker):
    """SimpleWorker that enforces keep-completed / keep-failed counts after each job, and sends
    its heartbeats (three commands each, three times per job in RQ) as one round trip.
    """

    def __init__(self, *args, policies: dict[str, QueuePolicy], **kwargs):
        super().__init__(*args, **kwargs)
        self._policies = policies
        self._retention = Retention()
        self._pending_trims: list[tuple[QueuePolicy, str]] = []

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            # the heartbeat that follows every job carries that job's retention trim
            while self._pending_trims:
                self._retention.trim(pipe, *self._pending_trims.pop())
            pipe.execute()

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

    def _policy_for(self, queue) -> QueuePolicy | None:
        return self._policies.get(split_physical(queue.name)[0])

    def handle_job_success(self, job, queue, started_job_registry, execution):
        super().handle_job_success(job, queue, started_job_registry, execution)
        self._schedule_trim(queue, "completed")

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string,
                                   execution=execution)
        self._schedule_trim(queue, "failed")

    def _schedule_trim(self, queue, state: str) -> None:
        policy = self._policy_for(queue)
        if policy and (policy, state) not in self._pending_trims:
            self._pending_trims.append((policy, state))


@dataclass
class WorkerSpec:
    queues: list[str]
    burst: bool = False
    max_jobs: int | None = None
    name: str | None = None


def run_worker(settings: Settings, spec: WorkerSpec) -> int:
    """Run one worker in this process until stopped; returns jobs processed.

    Survives Redis outages: it waits with exponential backoff instead of exiting.
    """
    physical = physical_queue_names(settings, spec.queues)
    wait = 1.0
    processed = 0
    while True:
        try:
            connection = connect(settings)
        except RedisUnavailable as exc:
            log.error("%s; retrying in %.0f s", exc.message, wait)
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT)
            continue
        runtime.install(settings, connection)
        worker = JobctlWorker(
            [rq_queue(connection, q) for q in physical],
            connection=connection,
            serializer=JSONSerializer,
            name=spec.name,
            policies=dict(settings.queues),
        )
        try:
            worked = worker.work(burst=spec.burst, max_jobs=spec.max_jobs, with_scheduler=True,
                                 logging_level=settings.log_level)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.error("lost Redis (%s); reconnecting in %.0f s", exc, wait)
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT)
            continue
        processed += worker.successful_job_count + worker.failed_job_count
        stopped = worker._stop_requested or worker._shutdown_requested_date is not None
        if spec.burst or stopped or spec.max_jobs is not None or worked is None:
            return processed
        # work() returned on its own (Redis trouble inside RQ's loop): start over
        log.warning("worker loop ended unexpectedly; restarting in %.0f s", wait)
        time.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_WAIT)


def _child_main(settings: Settings, spec: WorkerSpec) -> None:
    # the supervisor decides about stopping; children only react to what it forwards
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()
    run_worker(settings, spec)


@dataclass
class _Child:
    spec: WorkerSpec
    process: multiprocessing.Process | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float = 0.0
    done: bool = False


@dataclass
class Supervisor:
    """Keeps one process per spec alive; respawns the ones that die (unless burst or stopping)."""

    settings: Settings
    specs: list[WorkerSpec]
    _children: list[_Child] = field(default_factory=list)
    _signals: int = 0

    def _start(self, child: _Child) -> None:
        ctx = multiprocessing.get_context("fork")
        child.process = ctx.Process(target=_child_main, args=(self.settings, child.spec), daemon=False)
        child.process.start()
        child.started_at = time.monotonic()
        log.info("started worker process %s for %s", child.process.pid, ",".join(child.spec.queues))

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        for child in self._children:
            if child.process and child.process.is_alive():
                try:
                    os.kill(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self._signals >= 2:
            self._hard_deadline = time.monotonic() + HARD_STOP_GRACE

    def run(self) -> int:
        self._hard_deadline: float | None = None
        self._children = [_Child(spec) for spec in self.specs]
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self._children:
                self._start(child)
            while True:
                alive = 0
                now = time.monotonic()
                for child in self._children:
                    proc = child.process
                    if proc is not None and proc.is_alive():
                        alive += 1
                        if self._hard_deadline and now > self._hard_deadline:
                            proc.kill()
                        continue
                    if child.done:
                        continue
                    if proc is not None and child.restart_at == 0.0:
                        proc.join(0)
                        if self._signals or child.spec.burst or proc.exitcode == 0 and child.spec.max_jobs:
                            child.done = True
                            continue
                        # back off when a worker keeps dying right after it starts
                        lived = now - child.started_at
                        child.quick_deaths = child.quick_deaths + 1 if lived < 5 else 0
                        delay = min(RECONNECT_MAX_WAIT, 0.5 * 2**child.quick_deaths) if child.quick_deaths else 0
                        log.warning("worker process %s exited with %s; restarting in %.1f s",
                                    proc.pid, proc.exitcode, delay)
                        child.restart_at = now + delay
                    if child.restart_at and now >= child.restart_at and not self._signals:
                        child.restart_at = 0.0
                        self._start(child)
                        alive += 1
                if alive == 0 and all(c.done for c in self._children):
                    return 0
                time.sleep(0.2)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_workers(settings: Settings, specs: list[WorkerSpec]) -> int:
    for spec in specs:
        physical_queue_names(settings, spec.queues)  # validate before forking anything
    return Supervisor(settings, specs).run()


def all_queue_specs(settings: Settings, *, concurrency: int = 1, burst: bool = False) -> list[WorkerSpec]:
    """One worker process per catalogue queue (x concurrency): the seed's `workers:prod`."""
    return [WorkerSpec([name], burst=burst)
            for name, policy in settings.queues.items() if not policy.is_dead_letter
            for _ in range(concurrency)]
