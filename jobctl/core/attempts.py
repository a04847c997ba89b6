"""Attempt records on a job's meta: crashes noted by the lifecycle's reclaim folded in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rq.job import Job

ABANDONED_MESSAGE = "the worker stopped sending heartbeats"


def merge_abandoned(job: Job, raw: bytes | str | None) -> bool:
    """Fold the crashes `reclaim` noted on the job (field jobctl_abandoned) into meta's attempts.

    Also turns an attempt left `running` by an older worker into `abandoned`. True if anything changed.
    """
    attempts = job.meta.setdefault("attempts", [])
    changed = False
    for attempt in attempts:
        if attempt.get("outcome") == "running":  # written by jobctl before the atomic lifecycle
            attempt.update(
                outcome="abandoned", error_type="AbandonedJobError", error_message=ABANDONED_MESSAGE
            )
            changed = True
    for crash in json.loads(raw or "[]"):
        attempts.append(
            {
                "n": len(attempts) + 1,
                "started_at": _rq_to_iso(crash.get("started_at")),
                "ended_at": _rq_to_iso(crash.get("detected_at")),
                "worker": crash.get("worker") or None,
                "outcome": "abandoned",
                "error_type": "AbandonedJobError",
                "error_message": ABANDONED_MESSAGE,
            }
        )
        changed = True
    return changed


def _rq_to_iso(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return text


PENDING = ("queued", "scheduled", "deferred")  # an attempt is due: waiting, delayed or retried


def progress(
    job: Job, status: str, policy_attempts: int | None, abandoned: bytes | str | None = None
) -> dict[str, int]:
    """How far a job is through its attempts, the way every face shows it: made, allowed, retries left.

    RQ's `retries_left` field is decremented when a retry is *scheduled*, so read raw it is one too low
    while that retry waits (attempt 1 of 5 failed, retry 2 queued: the field says 3, yet 4 more attempts
    can run). Here a pending attempt counts again; a running one does not (it is no longer "left"). The
    crashes a lease reclaim noted (`abandoned`, field jobctl_abandoned) are attempts made too: reclaim
    already took their retry off the field. An ended job (finished, dead, stopped, canceled) has none
    left. Allowed: what the job can still reach while it has attempts ahead, else the queue's policy.
    """
    merge_abandoned(job, abandoned)  # on this in-memory copy only: the worker folds them in for good
    made = len(job.meta.get("attempts") or [])
    field = max(0, job.retries_left or 0)
    if status in PENDING:
        first_pending = made == 0  # the next attempt is the first, not a retry
        retries_left = field + (0 if first_pending else 1)
        allowed = made + 1 + field
    elif status == "started":
        retries_left = field
        allowed = made + 1 + field
    else:
        retries_left = 0
        allowed = policy_attempts if policy_attempts is not None else made
    return {"made": made, "allowed": allowed, "retries_left": retries_left}
