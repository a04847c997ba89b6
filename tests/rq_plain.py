"""RQ's own SimpleWorker for tests that need a plain RQ worker, without its pubsub listener.

The listener only carries `rq` stop/shutdown commands, which these tests never send. Stopping it
can stall a burst worker for a minute: RQ joins the listener thread for 1 s, then closes the
PubSub while that thread may still sit in its 60 s read (seen as 60 s tests under load).
"""

from __future__ import annotations

from rq import SimpleWorker


class PlainWorker(SimpleWorker):
    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass
