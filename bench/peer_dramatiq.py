"""dramatiq app for `python3 dev.py bench`: RedisBroker with namespace BENCH_DRAMATIQ_NS on BENCH_REDIS_URL.

Worker: dramatiq peer_dramatiq --processes 1 --threads 8 --path bench/, default middleware.
"""

import os

import dramatiq
import peer_tasks
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"], namespace=os.environ["BENCH_DRAMATIQ_NS"])
dramatiq.set_broker(broker)
QUEUE = "bench"


@dramatiq.actor(queue_name=QUEUE)
def job(i: int, n: int, enqueued: float, sleep: float) -> None:
    peer_tasks.run(i, n, enqueued, sleep)
