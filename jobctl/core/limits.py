"""Bounds: how many jobs one call may queue (JOBCTL_MAX_BATCH), and the one error a full server becomes.

A Redis at its maxmemory with `noeviction` (what the embedded server runs with) refuses every write
that could grow memory. jobctl writes each batch of jobs in one script whose first write is refused,
so a refusal leaves whole jobs or none; every face reports it as ServerFull (exit 1, HTTP 503).
"""

from __future__ import annotations

import redis

from jobctl.errors import ServerFull, TooMany


def too_many(limit: int, what: str) -> TooMany:
    """The error for a call that gave more than JOBCTL_MAX_BATCH (`limit`) `what` jobs; the bulk
    engine raises it on reading row limit + 1, before anything is queued."""
    return TooMany(
        f"more than {limit:,} {what} jobs in one call",
        f"queue them in parts of at most {limit:,}, or raise JOBCTL_MAX_BATCH",
    )


def server_full(
    connection: redis.Redis | None, embedded: bool, queued: int = 0, total: int | None = None
) -> ServerFull:
    """The error for a write Redis refused at its maxmemory; `queued` of `total` jobs landed before."""
    message = f"the Redis server is full ({_usage(connection)}): it refused to store more"
    if total is not None and queued:
        message += f"; {queued:,} of {total:,} jobs were queued (whole batches), the rest were not"
    elif total is not None:
        message += f"; none of the {total:,} jobs was queued"
    limit = "raise JOBCTL_EMBEDDED_MAXMEMORY" if embedded else "raise the server's maxmemory"
    return ServerFull(
        message, f"running workers still drain it; delete jobs (jobctl clear, jobctl dlq purge) or {limit}"
    )


def _usage(connection: redis.Redis | None) -> str:
    """'maxmemory 1.00G, used 1.02G', or just 'maxmemory' when the server cannot say."""
    if connection is None:
        return "maxmemory"
    try:
        info = connection.info("memory")
    except redis.RedisError:
        return "maxmemory"
    limit, used = info.get("maxmemory_human"), info.get("used_memory_human")
    return f"maxmemory {limit}, used {used}" if limit and used else "maxmemory"
