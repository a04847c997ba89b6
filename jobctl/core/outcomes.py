"""What one finished attempt writes: the attempt record, the job fields, result and dead letter.

Turns a run (job, start, end, return value or exception) into one `finish` record for
`jobctl.core.lifecycle`, so the worker's bookkeeping is plain data sent in the batch's single call.
"""

from __future__ import annotations

import math
import traceback
import zlib
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL
from rq.job import Job
from rq.timeouts import JobTimeoutException

from jobctl.core import dlq, dlq_groups, keyspace, metrics, payloads
from jobctl.core.lifecycle import Claimed, utc_iso
from jobctl.errors import JobFailure

MESSAGE_LIMIT = 500
UNSERIALIZABLE = "Unserializable return value"

# RQ's Result types in the results stream
RESULT_SUCCESSFUL, RESULT_FAILED, RESULT_STOPPED, RESULT_RETRIED = 1, 2, 3, 4


class JobctlJob(Job):
    """The class workers fetch jobs as: RQ's Job with a retry delay that honours a provider's Retry-After."""

    retry_after: float | None = None  # set from the failure before get_retry_interval()

    def get_retry_interval(self) -> int:
        backoff = super().get_retry_interval()
        if not self.retry_after:
            return backoff
        return max(backoff, math.ceil(self.retry_after))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class Run:
    """One attempt as the worker saw it."""

    claim: Claimed
    job: JobctlJob
    started: float
    ended: float
    return_value: Any = None
    error: BaseException | None = None
    exc_string: str = ""
    stopped: bool = False
    kind: str = "done"  # done | retry | dead | stopped, set by decide()
    due: float | None = None
    attempts_allowed: int | None = None  # this attempt's number plus the retries left, set by decide()
    dead_entry: dict | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def expected(self) -> bool:
        """A failure jobctl knows how to handle: a handler's JobFailure (a provider's 451 or 503, a
        declined card, a bad address), a timeout or a cancel. Anything else is a bug worth a traceback."""
        return self.stopped or isinstance(self.error, JobFailure | JobTimeoutException)


def failure_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def decide(run: Run) -> None:
    """done, retry (with its due time, or now), dead, or stopped - and the job's retries_left."""
    job = run.job
    if not run.failed:
        run.kind = "done"
        return
    if run.stopped:
        run.kind = "stopped"
        return
    run.attempts_allowed = len(job.meta.get("attempts", [])) + 1 + (job.retries_left or 0)
    retryable = getattr(run.error, "retryable", True)
    if retryable and job.retries_left:
        job.retry_after = getattr(run.error, "retry_after", None)
        interval = job.get_retry_interval()
        job.retries_left -= 1
        run.kind = "retry"
        run.due = run.ended + interval if interval else None
    else:
        if not retryable:
            job.retries_left = 0  # a permanent failure skips the remaining attempts
        run.kind = "dead"


def _attempt(run: Run, worker: str) -> dict:
    job = run.job
    attempts = job.meta.setdefault("attempts", [])
    outcome = {"done": "succeeded", "stopped": "stopped"}.get(run.kind, "failed")
    entry = {
        "n": len(attempts) + 1,
        "started_at": _iso(run.started),
        "ended_at": _iso(run.ended),
        "worker": worker,
        "outcome": outcome,
    }
    if run.error is not None:
        entry.update(error_type=type(run.error).__name__, error_message=str(run.error)[:MESSAGE_LIMIT])
        retry_after = getattr(run.error, "retry_after", None)
        if retry_after:
            entry["retry_after"] = retry_after
    attempts.append(entry)
    return entry


def _result(run: Run, worker: str) -> list[Any] | None:
    """RQ's results-stream entry (rq.results.Result.serialize), or None when there is nothing to keep."""
    if run.kind == "done":
        if run.return_value is None:
            return None  # RQ reads a missing result as None: a no-op job costs two commands less
        try:
            value = run.job.serializer.dumps(run.return_value)
        except Exception:  # noqa: BLE001 - a result that cannot be stored must not fail a job that finished
            value = run.job.serializer.dumps(UNSERIALIZABLE)
        return ["type", RESULT_SUCCESSFUL, "worker_name", worker, "return_value", b64encode(value).decode()]
    kind = {"retry": RESULT_RETRIED, "stopped": RESULT_STOPPED}.get(run.kind, RESULT_FAILED)
    sealed = payloads.seal_text(run.exc_string)  # a traceback can quote the payload
    return [
        "type",
        kind,
        "worker_name",
        worker,
        "exc_string",
        b64encode(zlib.compress(sealed.encode())).decode(),
    ]


def finish_record(run: Run, worker: str, previous_dead: dict | None = None) -> dict[str, Any]:
    """The lifecycle `finish` record for `run` (decide() first)."""
    job, claim = run.job, run.claim
    _attempt(run, worker)
    status = {
        "done": "finished",
        "retry": "scheduled" if run.due else "queued",
        "dead": "failed",
        "stopped": "stopped",
    }[run.kind]
    fields: list[Any] = [
        "status",
        status,
        "started_at",
        utc_iso(run.started),
        "ended_at",
        utc_iso(run.ended),
        "meta",
        job.serializer.dumps(job.meta).decode(),
    ]
    if claim.fields.get(b"jobctl_abandoned", b"[]") != b"[]":
        fields += ["jobctl_abandoned", "[]"]
    record: dict[str, Any] = {
        "kind": run.kind,
        "id": job.id,
        "member": claim.member,
        "wip": claim.queue.wip,
        "fields": fields,
    }
    result = _result(run, worker)
    if run.kind == "done":
        ttl = job.result_ttl if job.result_ttl is not None else DEFAULT_RESULT_TTL
        record.update(
            registry=claim.queue.finished,
            ttl=ttl,
            score="+inf" if ttl == -1 else run.ended + ttl,
            result_ttl=ttl,
        )
    else:
        failure_ttl = job.failure_ttl if job.failure_ttl is not None else DEFAULT_FAILURE_TTL
        record["result_ttl"] = failure_ttl
        if run.kind == "retry":
            fields += ["retries_left", job.retries_left]
            if run.due:
                record.update(scheduled=claim.queue.scheduled, due=run.due)
            else:
                record.update(queue=claim.queue.queue, marker=claim.queue.marker)
        elif run.kind == "dead":
            fields += ["retries_left", job.retries_left or 0]
            entry = dlq.build_entry(job, run.exc_string, worker, previous_dead)
            run.dead_entry = entry
            record.update(
                dlq_entry=keyspace.dlq_entry(job.id),
                dlq_doc=dlq.stored_form(entry),
                dlq_index=keyspace.dlq_index(),
                dlq_queue_index=keyspace.dlq_queue_index(entry["queue"]),
                dlq_group=dlq_groups.group_record(entry),
                died=run.ended,
                result_ttl=-1,
            )
        else:
            record.update(registry=claim.queue.failed, ttl=failure_ttl, score=run.ended + failure_ttl)
    if result is not None:
        record["result"] = result
    return record


def increments(run: Run) -> list[Any]:
    """The metrics pairs of this attempt (see jobctl.core.metrics); none for a stopped one."""
    if run.kind == "stopped":
        return []
    enqueued = run.job.enqueued_at
    return metrics.job_increments(
        "completed" if run.kind == "done" else "failed",
        enqueued=enqueued.timestamp() if enqueued is not None else None,
        started=run.started,
        ended=run.ended,
        retried=run.kind == "retry",
        dead=run.kind == "dead",
    )
