#!/usr/bin/env python3
"""Sentinel failover soak (issue 20): jobs streaming in while the master is SIGKILLed several times.

    python3 dev.py bench failover                          # 2,000 jobs at 100/s, 3 kills
    python3 dev.py bench failover --jobs 5000 --kills 5 --rate 200 --min-replicas 1 --json

Per run: a master, a replica and three Sentinels (quorum 2, down-after 500 ms, failover-timeout
2 s) on free loopback ports, started from the bundled server binary (tests/sentinels.py); two
`jobctl worker start` processes and a `jobctl scheduler start` on REDIS_URL=redis+sentinel://...;
`flaky` jobs (fail_times=0, each counting its executions in a file of its own) enqueued one at a time
at --rate a second. The master is SIGKILLed --kills times, evenly through the stream; each killed
server is started again as a replica once a new master is up (as systemd would restart it), so
there is a replica to promote at the next kill and to confirm WAITs.
With --enqueue-replicas 1 every enqueue WAITs for the replica (JOBCTL_ENQUEUE_REPLICAS=1); with
--min-replicas 1 the servers run with min-replicas-to-write 1 and min-replicas-max-lag 1.

Printed, per run: jobs, lost (acknowledged by enqueue, never ran), duplicated (completed jobs
that ran more than once), seconds from each SIGKILL to a new master and to the first job enqueued
after it having run. Exit status 1 when a job was lost.
"""

from __future__ import annotations

import os
import secrets
import sys

os.environ["RQ_KEY_PREFIX"] = f"failover-{secrets.token_hex(4)}"  # before rq is imported

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sentinels import SentinelGroup, failover_run  # noqa: E402


def log(message: str) -> None:
    print(f"failover: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="jobs enqueued a second")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole run")
    parser.add_argument("--min-replicas", type=int, default=0, help="min-replicas-to-write on the servers")
    parser.add_argument(
        "--enqueue-replicas", type=int, default=0, help="JOBCTL_ENQUEUE_REPLICAS (WAIT after each enqueue)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results = []
    for run in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="jobctl-failover-"))
        group = SentinelGroup(folder / "servers", min_replicas_to_write=args.min_replicas)
        try:
            group.start()
            log(f"run {run + 1}: master {group.ports[0]}, replica {group.ports[1]}, {group.url}")
            results.append(
                failover_run(
                    group,
                    folder / "run",
                    jobs=args.jobs,
                    kills=args.kills,
                    rate=args.rate,
                    settle=120,
                    enqueue_replicas=args.enqueue_replicas,
                    log=log,
                )
            )
        finally:
            group.stop()
            shutil.rmtree(folder, ignore_errors=True)

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(
            f"JOBCTL_ENQUEUE_REPLICAS={args.enqueue_replicas}, min-replicas-to-write {args.min_replicas}, "
            f"{args.rate:g} jobs/s, 2 workers, 1 scheduler"
        )
        head = f"{'run':>3} {'jobs':>6} {'kills':>5} {'lost':>5} {'dup':>4}"
        print(f"{head}  {'to new master (s)':<22} {'to resume (s)':<22}")
        for n, r in enumerate(results, 1):
            masters = ", ".join(f"{s:.1f}" for s in r.failover_seconds)
            resumes = ", ".join(f"{s:.1f}" for s in r.resume_seconds)
            row = f"{n:>3} {r.jobs:>6} {len(r.failover_seconds):>5} {r.lost:>5} {r.duplicated:>4}"
            print(f"{row}  {masters:<22} {resumes:<22}")
            if r.lost:
                print(f"    lost: {r.states} e.g. {', '.join(r.lost_ids[:5])}")
    return 1 if any(r.lost for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
