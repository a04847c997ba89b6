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


def dlq_queue_index(queue: str) -> str:
    """Per-queue twin of dlq_index, so `dlq list --queue` stays cheap at 100k entries."""
    return f"{JOBCTL}:dlq:queue:{queue}"


def dlq_entry(job_id: str) -> str:
    """JSON document with everything needed to judge and replay a dead job."""
    return f"{JOBCTL}:dlq:entry:{job_id}"


def paused_queues() -> str:
    """Set of catalogue queue names whose jobs workers must not take."""
    return f"{JOBCTL}:paused"


def alert_cooldown(queue: str) -> str:
    return f"{JOBCTL}:alert:cooldown:{queue}"


def alert_pending(queue: str) -> str:
    return f"{JOBCTL}:alert:pending:{queue}"


def schedules() -> str:
    """Hash of recurring schedules: name -> JSON document (see jobctl.core.schedules)."""
    return f"{JOBCTL}:schedules"


def schedules_due() -> str:
    """Sorted set of schedule names scored by their next run (UTC epoch seconds)."""
    return f"{JOBCTL}:schedules:due"


def schedule_fired(name: str, occurrence: int) -> str:
    """Guard (SET NX EX) so one occurrence of a schedule is enqueued at most once, by any scheduler."""
    return f"{JOBCTL}:schedules:fired:{name}:{occurrence}"


def api_tokens() -> str:
    """Hash of HTTP API tokens: name -> JSON (role, SHA-256 of the secret, who created it and when)."""
    return f"{JOBCTL}:tokens"


def web_session(digest: str) -> str:
    """Hash of one web dashboard sign-in (token name, CSRF token), by the SHA-256 of its cookie; expires."""
    return f"{JOBCTL}:web:session:{digest}"


def acl_rule(user: str = "jobctl", password: str = "CHANGE-ME", prefix: str = RQ_KEY_PREFIX) -> str:
    """The Redis ACL line (redis.conf `user ...` or an ACL file) that lets `user` run every jobctl
    process (CLI, workers, scheduler, serve, dash) and nothing more than it needs, for keys under `prefix`.

    - `~prefix:*`: every key jobctl and RQ use (keys above); `&prefix:pubsub:*`: RQ's worker command
      channel (`jobctl worker stop` publishes there, each worker subscribes to its own).
    - `+@all -@dangerous`: jobctl reads and writes keys, runs Lua (EVAL, EVALSHA, SCRIPT LOAD/EXISTS),
      uses MULTI/EXEC, WATCH, blocking pops, streams, SUBSCRIBE/PUBLISH, CLIENT SETNAME and CLIENT INFO
      (RQ names each worker's connection); none of that is in @dangerous, which holds FLUSHALL, KEYS,
      CONFIG, DEBUG, MONITOR, CLIENT KILL/LIST, SHUTDOWN, ACL and the like.
    - `+info`: the one @dangerous command used: RQ reads the server version, and a full server's
      error reports its memory (read-only).
    - `-function -script|flush -script|kill`: jobctl uses no Redis functions, and another
      application's scripts are not its to flush or kill.
    """
    return (
        f"user {user} on >{password} resetkeys ~{prefix}:* resetchannels &{prefix}:pubsub:* "
        "+@all -@dangerous +info -function -script|flush -script|kill"
    )
