"""Redis key names jobctl owns. They share RQ's prefix (RQ_KEY_PREFIX) so one prefix isolates all."""

from __future__ import annotations

from rq.defaults import RQ_KEY_PREFIX

JOBCTL = f"{RQ_KEY_PREFIX}:jobctl"


def dlq_index() -> str:
    """Sorted set of dead-lettered job ids scored by died-at time (filled by the DLQ machinery)."""
    return f"{JOBCTL}:dlq"


def job_key_prefix() -> str:
    return f"{RQ_KEY_PREFIX}:job:"


def results_key_prefix() -> str:
    return f"{RQ_KEY_PREFIX}:results:"
