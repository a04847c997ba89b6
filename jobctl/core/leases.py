"""Named leases in Redis: one holder at a time across processes and hosts (the active scheduler, the
alert evaluator).

A holder renews its lease (SET NX PX, then PEXPIRE) more often than it lasts; a contender tries
to take it on every tick, so it takes over at most one lease period after the holder died. Both
decisions are one script each, so two contenders never both win, and a holder whose lease already
went to someone else never renews or deletes the new holder's.
"""

from __future__ import annotations

from typing import Any

import redis

# renew only if we still hold it; take it only if nobody does
_ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

RENEWED, TAKEN, HELD_ELSEWHERE = 1, 2, 0


def acquire_or_renew(connection: redis.Redis, key: str, holder: str, ttl_ms: int) -> int:
    """RENEWED or TAKEN when `holder` holds the lease now (for ttl_ms), HELD_ELSEWHERE when not."""
    return int(connection.eval(_ACQUIRE_OR_RENEW, 1, key, holder, int(ttl_ms)))


def release(connection: redis.Redis, key: str, holder: str) -> bool:
    """Give the lease up, if `holder` still holds it (a successor can take it at once)."""
    return bool(connection.eval(_RELEASE, 1, key, holder))


def lease_status(connection: redis.Redis, key: str) -> dict[str, Any]:
    """Who holds the lease and how long it has left: {"holder", "ms_left"} (None, None when free)."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        holder, ttl = pipe.execute()
    return {
        "holder": holder.decode() if isinstance(holder, bytes) else holder,
        "ms_left": ttl if ttl and ttl > 0 else None,
    }
