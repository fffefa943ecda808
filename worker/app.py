"""The Celery app: Redis broker from settings (or an in-memory transport for the embedded default), JSON only,
results in our database, two queues (`ingest` on CPU workers, `summarize` on one solo process per GPU).

`celery -A docsum.worker.app ...` and `docsum worker` use the module attribute `app`, built from the environment on
first access (so importing this module never reads the environment). Code that holds its own `Settings` (the Client,
tests) calls `create_app(settings)`.
"""

from __future__ import annotations

import gc
from functools import cache, cached_property

from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue
from kombu.transport import memory
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings, get_settings
from docsum.services.database import open_sessions
from docsum.worker.tasks import register_tasks

INGEST_QUEUE = "ingest"
SUMMARIZE_QUEUE = "summarize"
MEMORY_BROKER = "memory://"


# A summarize worker makes hundreds of thousands of small lists per chunk (sentences, token ids, windows); at
# Python's default threshold (700) a young collection runs every few documents and collections took about a
# quarter of the worker's CPU time. Cyclic garbage is rare here: memory is freed by reference counting as before.
GC_THRESHOLD = (50_000, 20, 20)


@signals.worker_init.connect
def _tune_gc(**_kwargs: object) -> None:
    gc.set_threshold(*GC_THRESHOLD)  # in the main process, before the pool forks: children inherit it


EMBEDDED_WAIT_S = 0.1  # the longest the embedded transport waits for a message before returning to its caller


class PromptMemoryTransport(memory.Transport):
    """kombu's in-memory transport (the same process-wide queues), whose waits for a message last at most a tenth of
    a second. Celery's solo loop waits up to 2 s in one wait before it reads the stop flag, which made an embedded run
    sit idle for 2 to 4 s after its last summary was written."""

    def drain_events(self, connection: object, timeout: float | None = None) -> None:
        return super().drain_events(connection, timeout=timeout and min(timeout, EMBEDDED_WAIT_S))


class DocsumCelery(Celery):
    """A Celery app that carries the `Settings` it was built from, so tasks never re-read the environment."""

    def __init__(self, settings: Settings) -> None:
        self.docsum_settings = settings
        self.fatal_error: BaseException | None = None  # set by a task that stopped on what no retry cures
        super().__init__("docsum", set_as_current=False)

    @property
    def embedded(self) -> bool:
        """True when there is no broker: work moves through an in-process memory transport."""
        return self.docsum_settings.broker_url is None

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        # Engines are cached per process (one per URL), and forked children drop inherited pools (register_at_fork).
        return open_sessions(self.docsum_settings)


def transport_options(settings: Settings) -> dict[str, object]:
    """Broker transport options. Redis redelivers a task unacknowledged for `visibility_timeout` seconds; kombu only
    notices such tasks in a periodic sweep of a consuming worker (by default every 10 s x a throttle of 10, i.e.
    about 100 s), so the sweep runs at a quarter of the timeout, between 1 and 60 s, unthrottled."""
    if settings.broker_url is None:
        return {"polling_interval": 0.05}  # the memory transport polls; its default of 1 s would dominate small runs
    return {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": max(1, min(60, settings.visibility_timeout // 4)),
        "unacked_restore_throttle": 1,
    }


def nightly_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """Beat schedule: the nightly bulk run over settings.nightly_roots at settings.nightly_cron (5-field cron)."""
    if not settings.nightly_roots:
        return {}
    minute, hour, day_of_month, month_of_year, day_of_week = settings.nightly_cron.split()  # 5: Settings checks
    return {
        "docsum-nightly": {
            "task": "docsum.nightly",
            "schedule": crontab(minute, hour, day_of_week, day_of_month, month_of_year),
            "args": (list(settings.nightly_roots),),
            "options": {"queue": INGEST_QUEUE},
        }
    }


def create_app(settings: Settings) -> DocsumCelery:
    """A configured app with the docsum tasks registered."""
    app = DocsumCelery(settings)
    options = transport_options(settings)
    app.conf.update(
        broker_url=settings.broker_url or MEMORY_BROKER,
        broker_transport=None if settings.broker_url else PromptMemoryTransport,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        # JSON only: a pickle payload on the broker would be code execution in every worker.
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        # Results live in our database; Celery keeps none (no result backend at all).
        task_ignore_result=True,
        result_backend=None,
        # Long tasks: acknowledge after the work, re-queue when the worker dies, take one task at a time.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Flower needs events from workers and from senders.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_queues=(Queue(INGEST_QUEUE), Queue(SUMMARIZE_QUEUE)),
        task_default_queue=INGEST_QUEUE,
        task_routes={
            "docsum.ingest_files": {"queue": INGEST_QUEUE},
            "docsum.nightly": {"queue": INGEST_QUEUE},
            "docsum.summarize_chunk": {"queue": SUMMARIZE_QUEUE},
        },
        enable_utc=True,
        timezone="UTC",
        beat_schedule=nightly_schedule(settings),
    )
    register_tasks(app)
    return app


@cache
def default_app() -> DocsumCelery:
    """The app of this process's environment (`get_settings()`)."""
    return create_app(get_settings())


def __getattr__(name: str) -> DocsumCelery:
    # `celery -A docsum.worker.app` looks up `app` here; building it lazily keeps imports free of side effects.
    if name == "app":
        return default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
