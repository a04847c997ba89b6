"""jobctl's queues are plain RQ queues: RQ's own CLI sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobctl.core.enqueue import enqueue_many

pytestmark = pytest.mark.e2e


def test_rq_info_shows_each_priority_queue(settings, redis_client, redis_url):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="payment-retry", priority="low")
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry", priority="high")
    rq = Path(sys.executable).parent / "rq"
    out = subprocess.run([str(rq), "info", "--url", redis_url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = {line.split(" |")[0]: line for line in out.stdout.splitlines() if " |" in line}
    assert " 3, " in lines["payment-retry:low"] and " 2, " in lines["payment-retry:high"]
