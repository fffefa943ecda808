"""docsum's own Prometheus metrics, served by a worker on DOCSUM_METRICS_PORT (`/metrics`).

Labels are bounded: failures are labelled by their `errors.FailureClass`, queues by their two names;
no metric carries a host, worker or batch label (Prometheus adds the scraped `instance` itself).

Counters live in the process that runs the tasks. A summarize worker (solo pool) runs them in its main process, where
the server is; an ingest worker forks a pool, so `docsum worker` points prometheus-client's multiprocess mode at a
folder of its own (PROMETHEUS_MULTIPROC_DIR, set before this module is imported) and the server adds up its
children's files. Documents per second is `rate(docsum_documents_summarized_total[5m])`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from docsum.errors import FailureClass
from docsum.services.models import get_summarizer, loaded_models

if TYPE_CHECKING:
    from docsum.bertsum import ExtSummarizer
    from docsum.config import Settings
    from docsum.services.ingest import IngestReport
    from docsum.services.summarize import ChunkOutcome
    from docsum.worker.app import DocsumCelery

log = logging.getLogger(__name__)

# docsum's series live in a registry of their own, served only by `serve`: any process that imports the app (Flower
# does, to read task names) would otherwise show them in its own /metrics, at zero forever.
DOCSUM_REGISTRY = CollectorRegistry()
ProcessCollector(registry=DOCSUM_REGISTRY)  # the worker's CPU and memory, as the default registry would give
SUMMARIZED = Counter("docsum_documents_summarized", "Documents summarized by this worker.", registry=DOCSUM_REGISTRY)
INGESTED = Counter(
    "docsum_documents_ingested",
    "Files and archive members this worker ingested, by outcome.",
    ["outcome"],
    registry=DOCSUM_REGISTRY,
)
for _outcome in ("ingested", "duplicate", "failed"):
    INGESTED.labels(outcome=_outcome)
FAILED = Counter(
    "docsum_documents_failed",
    "Documents that failed in this worker (extraction or summarizing), by reason class.",
    ["reason"],
    registry=DOCSUM_REGISTRY,
)
for _failure in FailureClass:
    FAILED.labels(reason=_failure.value)  # every series exists from the start, at 0: rate() needs a first sample
# "max" across processes: one number without a pid label (the summarize worker has one process anyway).
MODEL_LOAD = Gauge(
    "docsum_model_load_seconds",
    "Seconds the last model load of this worker took.",
    multiprocess_mode="max",
    registry=DOCSUM_REGISTRY,
)
CHUNK_DOCS = Counter(
    "docsum_chunk_documents", "Documents in summarize chunks received (skipped included).", registry=DOCSUM_REGISTRY
)


def chunk_buckets(settings: Settings) -> tuple[float, ...]:
    """Runtime buckets of a summarize chunk: seconds to the visibility timeout (a chunk must end well before it)."""
    steps = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
    return (*(s for s in steps if s < settings.visibility_timeout), float(settings.visibility_timeout))


_chunk_seconds: Histogram | None = None


def _histogram(settings: Settings) -> Histogram:
    global _chunk_seconds
    if _chunk_seconds is None:
        _chunk_seconds = Histogram(
            "docsum_chunk_seconds",
            "Wall time of one summarize chunk.",
            buckets=chunk_buckets(settings),
            registry=DOCSUM_REGISTRY,
        )
    return _chunk_seconds


def timed_loader(settings: Settings) -> Callable[[str | None], ExtSummarizer]:
    """The summarize task's model loader, timing a load when one happens."""

    def load(path: str | None) -> ExtSummarizer:
        if path in loaded_models():
            return get_summarizer(settings, path)
        started = time.perf_counter()
        summarizer = get_summarizer(settings, path)
        MODEL_LOAD.set(time.perf_counter() - started)
        # The model's objects live as long as the worker: out of the collector's sight, full collections stay
        # cheap (and a forked child does not touch, hence copy, their pages).
        gc.freeze()
        return summarizer

    return load


def count_ingest(report: IngestReport) -> None:
    """Count an ingest task's files (archive members each); failures by the class of their reason."""
    for item in report.items:
        INGESTED.labels(outcome=str(item.outcome)).inc()
        if str(item.outcome) == "failed":
            FAILED.labels(reason=(item.failure or FailureClass.other).value).inc()


def count_chunk(outcome: ChunkOutcome, settings: Settings, seconds: float) -> None:
    """Count a chunk's documents; failures by the class of their reason (the outcome carries it: no query)."""
    SUMMARIZED.inc(len(outcome.succeeded))
    CHUNK_DOCS.inc(len(outcome.succeeded) + len(outcome.failed) + len(outcome.skipped))
    _histogram(settings).observe(seconds)
    for failure in outcome.failures.values():
        FAILED.labels(reason=failure.value).inc()


class QueueDepth(Collector):
    """Messages waiting in each docsum queue, read from Redis at scrape time (kombu keeps a queue as a list)."""

    def __init__(self, app: DocsumCelery) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from docsum.worker.app import INGEST_QUEUE, SUMMARIZE_QUEUE

        family = GaugeMetricFamily("docsum_queue_depth", "Tasks waiting in a docsum queue.", labels=["queue"])
        try:
            with self.app.connection_for_read() as conn:
                client = conn.default_channel.client
                for queue in (INGEST_QUEUE, SUMMARIZE_QUEUE):
                    family.add_metric([queue], float(client.llen(queue)))
        except Exception as error:  # noqa: BLE001 - a scrape must not fail because the broker blinked
            log.warning("queue depth unavailable: %s", error)
            return
        yield family


_served: set[int] = set()

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(app: DocsumCelery, port: int, address: str = "0.0.0.0") -> None:
    """Start the metrics server of this process (once per port). In multiprocess mode (PROMETHEUS_MULTIPROC_DIR
    set) it serves the sum over this worker's processes."""
    if port in _served:
        return
    import os

    _histogram(app.docsum_settings)
    registry: CollectorRegistry = DOCSUM_REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    if app.docsum_settings.broker_url is not None:
        registry.register(QueueDepth(app))
    start_http_server(port, addr=address, registry=registry)
    _served.add(port)
    log.info("Prometheus metrics on http://%s:%d/metrics", address, port)


def process_exited(pid: int) -> None:
    """A pool child is gone: its live gauges no longer count (its counters stay in the sum)."""
    import os

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
