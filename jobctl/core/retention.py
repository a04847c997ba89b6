"""keep-completed / keep-failed as counts (like BullMQ's removeOnComplete), enforced by jobctl.

RQ only expires by age. One Lua call trims the registries of all three priorities of a queue
together, oldest first, and deletes the trimmed jobs' data, in a single round trip.
"""

from __future__ import annotations

import redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from jobctl.core import keys
from jobctl.core.catalog import QueuePolicy

_TRIM = """
local keep = tonumber(ARGV[1])
local total = 0
for i = 1, #KEYS do total = total + redis.call('ZCARD', KEYS[i]) end
local removed = 0
while total > keep do
  local oldest_key, oldest_id, oldest_score = nil, nil, nil
  for i = 1, #KEYS do
    local head = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if head[1] and (oldest_score == nil or tonumber(head[2]) < oldest_score) then
      oldest_key, oldest_id, oldest_score = KEYS[i], head[1], tonumber(head[2])
    end
  end
  if oldest_key == nil then break end
  redis.call('ZREM', oldest_key, oldest_id)
  redis.call('UNLINK', ARGV[2] .. oldest_id, ARGV[3] .. oldest_id)
  total = total - 1
  removed = removed + 1
end
return removed
"""


class Retention:
    def __init__(self, connection: redis.Redis):
        self._script = connection.register_script(_TRIM)

    def _trim(self, registry_keys: list[str], keep: int | None, pipeline=None) -> int | None:
        if keep is None:
            return None
        return self._script(keys=registry_keys, args=[keep, keys.job_key_prefix(), keys.results_key_prefix()],
                            client=pipeline)

    def trim_completed(self, policy: QueuePolicy, connection: redis.Redis) -> int | None:
        regs = [FinishedJobRegistry(q, connection=connection).key for q in policy.physical_names]
        return self._trim(regs, policy.keep_completed)

    def trim_failed(self, policy: QueuePolicy, connection: redis.Redis) -> int | None:
        regs = [FailedJobRegistry(q, connection=connection).key for q in policy.physical_names]
        return self._trim(regs, policy.keep_failed)
