"""huey app for `python3 dev.py bench`: RedisHuey named by BENCH_HUEY_NAME on BENCH_REDIS_URL, one task.

Worker: huey_consumer peer_huey.huey -w 1 -k thread (PYTHONPATH=bench/), default settings otherwise.
"""

import os

import peer_tasks
from huey import RedisHuey

huey = RedisHuey(os.environ["BENCH_HUEY_NAME"], url=os.environ["BENCH_REDIS_URL"])


@huey.task()
def job(i: int, n: int, enqueued: float, sleep: float) -> None:
    peer_tasks.run(i, n, enqueued, sleep)
