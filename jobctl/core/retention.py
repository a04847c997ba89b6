"""keep-completed / keep-failed as counts (like BullMQ's removeOnComplete), enforced by jobctl.

RQ only expires by age. One Lua call trims the registries of all three priorities of a queue
together, oldest first, and deletes the trimmed jobs' data, in a single round trip.
"""

from __future__ import annotations

from typing import ClassVar

from rq.registry import BaseRegistry, FailedJobRegistry, FinishedJobRegistry

from jobctl.core import keyspace
from jobctl.core.catalog import QueuePolicy

# keep-completed / keep-failed across a queue's priority registries, oldest first, in bulk: a few
# commands whatever the excess. Shared with the worker's finish script (jobctl.core.lifecycle).
# One call removes at most TRIM_BATCH jobs: lowering keep_completed under 200,000 finished jobs must
# not make one script block Redis (or overflow Lua's unpack, which failed every finish of the
# worker); each later finish trims the next batch, so the excess drains at TRIM_BATCH per job.
TRIM_BATCH = 1000
TRIM_FUNCTION = (
    r"""
local function trim(keep, regs, job_prefix, results_prefix)
  local total = 0
  for _, k in ipairs(regs) do total = total + redis.call('ZCARD', k) end
  local excess = math.min(total - keep, """
    + str(TRIM_BATCH)
    + r""")
  if excess <= 0 then return 0 end
  local cand = {}
  for _, k in ipairs(regs) do
    local head = redis.call('ZRANGE', k, 0, excess - 1, 'WITHSCORES')
    for i = 1, #head, 2 do cand[#cand + 1] = {k, head[i], tonumber(head[i + 1])} end
  end
  table.sort(cand, function(a, b) return a[3] < b[3] end)
  local per, gone = {}, {}
  local removed = math.min(excess, #cand)
  for i = 1, removed do
    local c = cand[i]
    per[c[1]] = per[c[1]] or {}
    table.insert(per[c[1]], c[2])
    gone[#gone + 1] = job_prefix .. c[2]
    gone[#gone + 1] = results_prefix .. c[2]
  end
  for k, ids in pairs(per) do redis.call('ZREM', k, unpack(ids)) end
  if #gone > 0 then redis.call('UNLINK', unpack(gone)) end
  return removed
end
"""
)

_TRIM = TRIM_FUNCTION + "return trim(tonumber(ARGV[1]), KEYS, ARGV[2], ARGV[3])"


class Retention:
    """Trims a queue's finished or failed registries to the policy's count.

    Calls are queued on a pipeline the caller already sends, so retention costs no round trip of
    its own. EVAL (not EVALSHA) keeps that pipeline free of redis-py's per-execute SCRIPT EXISTS.
    """

    REGISTRY: ClassVar[dict[str, type[BaseRegistry]]] = {
        "completed": FinishedJobRegistry,
        "failed": FailedJobRegistry,
    }

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
        return client.eval(
            _TRIM, len(keys_), *keys_, keep, keyspace.job_key_prefix(), keyspace.results_key_prefix()
        )
