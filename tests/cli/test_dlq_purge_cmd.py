"""`jobctl dlq purge` of many entries: the figures of the final line in text and --json, as clear's."""

from __future__ import annotations

import re

from jobctl.core import dlq, keyspace
from tests.dead_letters import many_dead

A, B = "payment-retry", "email-sending"


def test_purge_all_reports_count_time_and_rate(cli, redis_client, settings):
    ids = many_dead(redis_client, settings, 2_500, queue=A)
    kept = many_dead(redis_client, settings, 10, queue=B)
    preview = cli.json("dlq", "purge", "--all", "--queue", A, "--dry-run")
    assert len(preview["would_purge"]) == 2_500 and preview["by_queue"] == {A: 2_500}
    assert "count" not in preview  # a dry run times nothing

    data = cli.json("dlq", "purge", "--all", "--queue", A, "--yes")
    assert sorted(data["purged"]) == sorted(ids) and data["not_found"] == []
    assert data["count"] == 2_500 and data["elapsed_seconds"] > 0 and data["rate_per_second"] > 0
    assert redis_client.zcard(keyspace.dlq_queue_index(A)) == 0

    more = many_dead(redis_client, settings, 1_200, queue=A)
    out = cli("dlq", "purge", "--all", "--queue", A, "--yes").stdout
    assert re.fullmatch(r"purged: 1,200 in \d+\.\d+ s \([\d,]+ entries/s\)\n", out), out
    assert not any(dlq.read_entry(redis_client, i) for i in more[:50])
    assert sorted(e["job_id"] for e in cli.json("dlq", "list")["entries"]) == sorted(kept)
