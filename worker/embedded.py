"""A real Celery worker inside the calling process, for the embedded default (no broker configured).

The app's broker is kombu's in-memory transport, whose queues are shared by every connection of the process; a
`WorkController` with the solo pool consumes both queues in a daemon thread. Tasks go through the same publish,
deliver, ack path as with Redis (not `task_always_eager`), one at a time, in this process (the model loads here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from celery.app import trace
from celery.worker import WorkController
from celery.worker import state as worker_state

from docsum.worker.app import INGEST_QUEUE, SUMMARIZE_QUEUE, DocsumCelery

STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0
EMBEDDED_HOSTNAME = "embedded@localhost"


class _ThreadWorker(WorkController):
    """A WorkController that says when its consumer is ready."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


@dataclass
class EmbeddedWorker:
    controller: WorkController
    thread: threading.Thread

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


@contextmanager
def embedded_worker(app: DocsumCelery) -> Iterator[EmbeddedWorker]:
    """Run a solo-pool worker on both queues in a thread for the duration of the block."""
    if not app.embedded:
        raise ValueError("an embedded worker needs the in-memory transport (DOCSUM_BROKER_URL unset)")
    # What `celery worker` does first: make this app the current and default one in every thread (the worker thread
    # looks tasks up through it) and install the fast task-registry lookup.
    trace.setup_worker_optimizations(app, EMBEDDED_HOSTNAME)
    worker = _ThreadWorker(
        app=app,
        hostname=EMBEDDED_HOSTNAME,
        pool="solo",
        concurrency=1,
        queues=[INGEST_QUEUE, SUMMARIZE_QUEUE],
        task_events=False,  # no Flower without a broker
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    thread = threading.Thread(target=worker.start, name="docsum-embedded-worker", daemon=True)
    thread.start()
    if not worker.ready.wait(STARTUP_TIMEOUT_S):
        raise RuntimeError(f"the embedded worker did not start within {STARTUP_TIMEOUT_S:.0f} s")
    try:
        yield EmbeddedWorker(worker, thread)
    finally:
        # Celery's own in-thread test worker stops the same way: the consumer loop checks this flag between tasks.
        worker_state.should_terminate = 0
        thread.join(SHUTDOWN_TIMEOUT_S)
        worker_state.should_terminate = None
        trace.reset_worker_optimizations(app)
        if thread.is_alive():
            raise RuntimeError("the embedded worker did not stop in time")
