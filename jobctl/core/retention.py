"""keep-completed / keep-failed as counts (like BullMQ's removeOnComplete), enforced by jobctl.

RQ only expires by age. One Lua call trims the registries of all three priorities of a queue
together, oldest first, and deletes the trimmed jobs' data, in a single round trip.
"""

from __future__ import annotations

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
    """Trims a queue's finished or failed registries to the policy's count.

    Calls are queued on a pipeline the caller already sends, so retention costs no round trip of
    its own. EVAL (not EVALSHA) keeps that pipeline free of redis-py's per-execute SCRIPT EXISTS.
    """

    REGISTRY = {"completed": FinishedJobRegistry, "failed": FailedJobRegistry}

    def __init__(self):
        self._keys: dict[tuple[str, str], list[str]] = {}

    def registry_keys(self, policy: QueuePolicy, state: str) -> list[str]:
        cached = self._keys.get((policy.name, state))
        if cached is None:
            template = self.REGISTRY[state].key_template
            cached = self._keys[(policy.name, state)] = [template.format(q) for q in policy.physical_names]
        return cached

    def trim(self, client, policy: QueuePolicy, state: str):
        """Queue (on a pipeline) or run the trim; returns what the client returns, None if unlimited."""
        keep = policy.keep_completed if state == "completed" else policy.keep_failed
        if keep is None:
            return None
        keys_ = self.registry_keys(policy, state)
        return client.eval(_TRIM, len(keys_), *keys_, keep, keys.job_key_prefix(), keys.results_key_prefix())
