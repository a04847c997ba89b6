"""Running workers: one in this process, or N supervised processes that are respawned when they die.

The supervisor turns the first SIGTERM/SIGINT into a warm stop for every child (finish the job in
hand), the second into a hard stop.

`jobctl workers start` also makes its supervisor a candidate alert evaluator (alert_evaluator):
where workers run, someone evaluates the rules even with no scheduler. It steps in the supervisor's
own loop, once a second, not on a thread: the supervisor forks its children, and forking a process
with a second thread can copy a lock that thread holds.

Why not RQ 3's WorkerPool (rq/worker_pool.py), which also forks N workers and respawns dead ones:
- its child (rq.worker_pool.run_worker) builds `worker_class(queues, name=, connection=, ...)` and
  calls `work(with_scheduler=True)`: no way to pass JobctlWorker its `settings` or `threads`, nor
  max_jobs, nor to install jobctl's runtime; one queue list serves every child, where `workers
  start` runs one process per queue;
- its child connects once and calls work() once: when JobctlWorker's own loop raises on a Redis
  outage the child dies and is respawned at the next check, each second, with no back-off; here the
  child reconnects with back-off (run_worker) and a child that keeps dying is restarted ever later;
- it ignores exit codes: a child that stops on a configuration error (exit 2, e.g. no key for
  encrypted jobs) is respawned forever, and start() returns nothing for `jobctl workers start` to
  exit with; here such a child is not restarted and the supervisor exits 2;
- every signal only re-sends SIGINT; here the second one also kills what is still alive after
  HARD_STOP_GRACE; its children do not die with a SIGKILLed pool (here: die_with_parent);
- it polls every second plus `join(0.1)` per live child, and offers no hook for the alert step.
Reclaiming a dead worker's jobs and liveness are the workers' own (leases and heartbeats, see
core/worker.py) under either, so nothing there argues for the pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

import redis

from jobctl.config import Settings
from jobctl.core import runtime
from jobctl.core.alert_evaluator import AlertEvaluator
from jobctl.core.catalog import queue_catalog
from jobctl.core.connection import connect
from jobctl.core.lifetime import die_with_parent
from jobctl.core.outage import RECONNECT_MAX_WAIT, Outage
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker, physical_queue_names
from jobctl.errors import ExitCode, JobctlError, RedisUnavailable

log = logging.getLogger("jobctl.worker")

HARD_STOP_GRACE = 5.0


@dataclass
class WorkerSpec:
    queues: list[str]
    burst: bool = False
    max_jobs: int | None = None
    name: str | None = None
    threads: int = 1  # jobs at once in this one process (a thread pool, for I/O-bound job types)


def run_worker(settings: Settings, spec: WorkerSpec) -> int:
    """Run one worker in this process until stopped; returns jobs processed.

    Survives Redis outages (unreachable, or full): it waits with exponential backoff, logging the outage
    once. A burst worker gives up after JOBCTL_REDIS_WAIT: RedisUnavailable (exit 3) or ServerFull.
    """
    physical = physical_queue_names(settings, spec.queues)
    outage = Outage(settings.redis_wait if spec.burst else None)
    processed = 0
    wait = 1.0
    while True:
        try:
            connection = connect(settings)
        except RedisUnavailable as exc:
            outage.wait(exc)
            continue
        runtime.install(settings, connection)
        worker = JobctlWorker(
            physical,
            connection=connection,
            serializer=PayloadSerializer,
            job_class=JobctlJob,
            name=spec.name,
            settings=settings,
            threads=spec.threads,
            outage=outage,
        )
        try:
            processed += worker.work(burst=spec.burst, max_jobs=spec.max_jobs)
        except (redis.ConnectionError, redis.TimeoutError, redis.OutOfMemoryError) as exc:
            outage.wait(exc)
            continue
        if worker.refusal is not None:
            raise worker.refusal
        if spec.burst or worker.stop_requested or spec.max_jobs is not None:
            return processed
        # work() returned on its own (Redis trouble inside RQ's loop): start over
        log.warning("worker loop ended unexpectedly; restarting in %.0f s", wait)
        time.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_WAIT)


def _child_main(settings: Settings, spec: WorkerSpec) -> None:
    # the supervisor decides about stopping; children only react to what it forwards
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()
    try:
        run_worker(settings, spec)
    except JobctlError as exc:  # bad configuration, or a burst worker gave up: say so once, exit its code
        log.error("%s", exc.message)
        sys.exit(int(exc.code))


@dataclass
class _Child:
    spec: WorkerSpec
    process: BaseProcess | None = None  # a fork context makes a ForkProcess, not a multiprocessing.Process
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
    alerts: AlertEvaluator | None = None  # set: this supervisor also competes to evaluate the alert rules
    _signals: int = 0
    _config_errors: int = 0  # children that stopped on a configuration error (logged by the child)
    _burst_failure: int = 0  # the exit code of the first burst worker that failed (3: gave up on Redis)
    _connection: redis.Redis | None = None
    _alerts_next: float = 0.0
    _alerts_wait: float = 1.0
    _hard_deadline: float | None = None  # set by a second stop signal

    def _start(self, child: _Child) -> None:
        ctx = multiprocessing.get_context("fork")
        process = child.process = ctx.Process(
            target=_child_main, args=(self.settings, child.spec), daemon=False
        )
        process.start()
        child.started_at = time.monotonic()
        log.info("started worker process %s for %s", process.pid, ",".join(child.spec.queues))

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        for child in self._children:
            # (a started process has a pid)
            if child.process and child.process.pid is not None and child.process.is_alive():
                try:
                    os.kill(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self._signals >= 2:
            self._hard_deadline = time.monotonic() + HARD_STOP_GRACE

    def _step_alerts(self, now: float) -> None:
        """One alert-evaluator step, at most once a second; Redis trouble backs off, never stops the
        supervisor (its children reconnect on their own)."""
        if self.alerts is None or now < self._alerts_next or self._signals:
            return
        try:
            self._connection = self._connection or connect(self.settings)
            self.alerts.step_safely(self._connection)
            self._alerts_wait = 1.0
        except (RedisUnavailable, redis.ConnectionError, redis.TimeoutError) as exc:
            self._connection = None
            self.alerts.holding = False
            log.log(  # once per outage: the first retry comes after 1 s
                logging.ERROR if self._alerts_wait == 1.0 else logging.DEBUG,
                "alert evaluator: Redis unavailable (%s); retrying in %.0f s",
                getattr(exc, "message", exc),
                self._alerts_wait,
            )
            self._alerts_wait = min(self._alerts_wait * 2, RECONNECT_MAX_WAIT)
        self._alerts_next = now + self._alerts_wait

    def _release_alerts(self) -> None:
        if self.alerts is None or self._connection is None:
            return
        try:
            self.alerts.release(self._connection)
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the lease runs out by itself

    def run(self) -> int:
        self._hard_deadline = None
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
                        if (
                            proc.exitcode == ExitCode.USAGE
                        ):  # e.g. no key for encrypted jobs: a restart cannot help
                            log.error(
                                "worker process %s stopped on a configuration error; not restarting it",
                                proc.pid,
                            )
                            self._config_errors += 1
                            child.done = True
                            continue
                        failed = child.spec.burst and proc.exitcode and not self._signals
                        if failed and not self._burst_failure:  # (killed by a signal: exitcode < 0)
                            self._burst_failure = max(proc.exitcode or 0, int(ExitCode.FAILED))
                        if self._signals or child.spec.burst or (proc.exitcode == 0 and child.spec.max_jobs):
                            child.done = True
                            continue
                        # back off when a worker keeps dying right after it starts
                        lived = now - child.started_at
                        child.quick_deaths = child.quick_deaths + 1 if lived < 5 else 0
                        delay = (
                            min(RECONNECT_MAX_WAIT, 0.5 * 2**child.quick_deaths) if child.quick_deaths else 0
                        )
                        log.warning(
                            "worker process %s exited with %s; restarting in %.1f s",
                            proc.pid,
                            proc.exitcode,
                            delay,
                        )
                        child.restart_at = now + delay
                    if child.restart_at and now >= child.restart_at and not self._signals:
                        child.restart_at = 0.0
                        self._start(child)
                        alive += 1
                if alive == 0 and all(c.done for c in self._children):
                    return int(ExitCode.USAGE) if self._config_errors else self._burst_failure
                self._step_alerts(now)
                time.sleep(0.2)
        finally:
            self._release_alerts()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_workers(settings: Settings, specs: list[WorkerSpec], *, evaluate_alerts: bool = False) -> int:
    """Run supervised worker processes until they are done; 2 when any stopped on a configuration error,
    else the exit code of the first burst worker that failed (3: it gave up waiting for Redis).

    `evaluate_alerts`: the supervisor also competes to evaluate the alert rules (`workers start`)."""
    for spec in specs:
        physical_queue_names(settings, spec.queues)  # validate before forking anything
    alerts = AlertEvaluator(settings, "workers") if evaluate_alerts else None
    return Supervisor(settings, specs, alerts=alerts).run()


def all_queue_specs(settings: Settings, *, concurrency: int = 1, burst: bool = False) -> list[WorkerSpec]:
    """One worker process per catalogue queue (x concurrency): the seed's `workers:prod`."""
    return [
        WorkerSpec([name], burst=burst)
        for name, policy in queue_catalog(settings).items()
        if not policy.is_dead_letter
        for _ in range(concurrency)
    ]
