"""Attempt records on a job's meta: crashes noted by the lifecycle's reclaim folded in."""

from __future__ import annotations

import json
from datetime import datetime, timezone

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
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).isoformat()
    except ValueError:
        return text
