"""The Celery tasks: thin wrappers around `docsum.services`, and `CelerySender`, how the batch workflow
(`services.runs`) sends work to the workers.

Transient failures (database or broker unreachable) retry with exponential backoff; a bad document never raises out
of a task, it fails its own job with a reason.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

from docsum.errors import BrokerUnavailable, DatabaseUnwritable, FailureClass
from docsum.services import batches, runs, summarize
from docsum.services.database import database_trouble
from docsum.services.ingest import count_unread_files
from docsum.services.ingest import ingest_files as ingest_batch_files
from docsum.services.models import resolve_model
from docsum.services.nightly import describe_scan
from docsum.worker import metrics
from docsum.worker.deliveries import TaskDeliveries, ingest_redelivered

if TYPE_CHECKING:
    from docsum.config import Settings
    from docsum.worker.app import DocsumCelery

log = logging.getLogger(__name__)

# What the broker raises when it cannot take a message.
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Worth retrying: the database or the broker went away for a moment (psycopg disconnects surface as
# OperationalError/InterfaceError; SQLite's "database is locked" is an OperationalError too).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    *BROKER_ERRORS,
    BrokerUnavailable,  # a nightly run whose work could not be sent: its batch was cancelled, the next try plans anew
)
RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,  # 2, 4, 8, ... seconds
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 10,
}


# Without DOCSUM_STORE_EVERY, a summarize chunk runs in slices of about this many encoder batches' tokens, and what
# is done is stored every STORE_INTERVAL_S seconds: a commit per slice would cost a fast (GPU) worker more than its
# scoring, and progress every half second is as good as per document to a person watching.
STORE_BATCHES = 2
RESULT_ITEMS = 20  # failures named in a task's result (Flower shows it); the counts cover the rest
STORE_INTERVAL_S = 0.5


def store_slices(settings: Settings) -> dict[str, int | float | None]:
    """How a summarize chunk is stored: DOCSUM_STORE_EVERY documents at a time; unset, slices of about STORE_BATCHES
    encoder batches' tokens, stored every STORE_INTERVAL_S seconds; 0, the whole chunk in one transaction."""
    every = settings.store_every
    if every == 0:
        return {"store_every": None, "store_tokens": None}
    if every:
        return {"store_every": every, "store_tokens": None}
    return {"store_tokens": STORE_BATCHES * settings.max_batch_tokens, "store_interval": STORE_INTERVAL_S}


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def enqueue_summarize(app: DocsumCelery, job_ids: Sequence[int], batch_id: int | None = None) -> int:
    """Send summarize tasks in chunks of settings.chunk_size (call only after the jobs' transaction committed).
    The batch id, when given, shows in each task's description (Flower's args column, worker logs)."""
    chunks = chunked(list(job_ids), app.docsum_settings.chunk_size)
    task = app.tasks["docsum.summarize_chunk"]
    for chunk in chunks:
        task.apply_async(args=[chunk], argsrepr=summarize.describe_chunk(chunk, batch_id))
    return len(chunks)


def enqueue_ingest(app: DocsumCelery, batch_id: int, paths: Sequence[str]) -> int:
    """Send ingest tasks in chunks of settings.ingest_chunk_size files (after the batch committed)."""
    size = app.docsum_settings.ingest_chunk_size
    task = app.tasks["docsum.ingest_files"]
    n = 0
    for start in range(0, len(paths), size):
        part = list(paths[start : start + size])
        task.apply_async(
            args=[batch_id, part], argsrepr=f"batch {batch_id}: {len(part)} file{'s' if len(part) != 1 else ''}"
        )
        n += 1
    return n


class CelerySender:
    """`services.runs.Sender` over Celery: ingest tasks of ingest_chunk_size files, summarize tasks of chunk_size
    jobs. `before_send` runs before anything is sent (the client starts its embedded worker there)."""

    unavailable = BROKER_ERRORS

    def __init__(self, app: DocsumCelery, before_send: Callable[[], None] | None = None) -> None:
        self.app = app
        self.before_send = before_send

    def _ready(self) -> None:
        if self.before_send is not None:
            self.before_send()

    def ingest(self, batch_id: int, paths: Sequence[str]) -> None:
        if paths:
            self._ready()
            enqueue_ingest(self.app, batch_id, paths)

    def summarize(self, job_ids: Sequence[int], batch_id: int | None = None) -> None:
        if job_ids:
            self._ready()
            enqueue_summarize(self.app, job_ids, batch_id)


def stop_if_lasting(app: DocsumCelery, error: BaseException) -> None:
    """Raise DatabaseUnwritable instead of retrying a database error that waiting will not cure (a full disk, a
    read-only database): retried with backoff, it held a batch for half an hour and its waiting client forever. An
    embedded worker's client reads it from the app and stops with it."""
    if not isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return
    trouble = database_trouble(error)
    if trouble.lasting:
        failure = DatabaseUnwritable(trouble.message)
        app.fatal_error = failure
        raise failure from error


def _hostname(request_hostname: str | None) -> str:
    return request_hostname or socket.gethostname()


def register_tasks(app: DocsumCelery) -> None:
    """Register the docsum tasks on `app` (each app gets its own task objects bound to its settings)."""

    @app.task(name="docsum.ingest_files", bind=True, shared=False, **RETRY_OPTIONS)
    def ingest_files(self, batch_id: int, paths: list[str]) -> dict:
        # Deliveries are counted first: a file that kills its worker must not bring its task back forever.
        # A call outside a worker has no message id: a count of its own, never shared.
        task_id = self.request.id or f"local-{uuid.uuid4().hex}"
        counts = TaskDeliveries(app.docsum_settings, task_id, self.request.retries or 0)
        try:
            if counts.count_task() > 1:
                log.warning("batch %s: ingest task redelivered after a lost worker: one file at a time", batch_id)
                outcome = ingest_redelivered(app, counts, batch_id, paths)
                outcome.to_summarize = []  # enqueued file by file
            else:
                outcome = ingest_batch_files(app.session_factory, app.docsum_settings, batch_id, paths)
        except TRANSIENT_ERRORS as error:
            stop_if_lasting(app, error)
            raise
        except Exception:
            # Not worth a retry, and the task will not come back: count the files so that the batch can finish.
            log.exception(
                "batch %s: ingest of %d files failed; counting them done without documents", batch_id, len(paths)
            )
            ready = count_unread_files(app.session_factory, app.docsum_settings, batch_id, len(paths))
            runs.work_sent_on(app.session_factory, app.docsum_settings, CelerySender(app), batch_id, ready)
            raise
        metrics.count_ingest(outcome.report)
        runs.work_sent_on(app.session_factory, app.docsum_settings, CelerySender(app), batch_id, outcome.to_summarize)
        counts.forget()
        tally = outcome.report.counts()
        log.info(
            "batch %s: %d files -> %d ingested, %d duplicates, %d failed; %d jobs to summarize",
            batch_id,
            len(paths),
            tally["ingested"],
            tally["duplicate"],
            tally["failed"],
            len(outcome.to_summarize),
        )
        # The task's result, which Flower shows (no result backend keeps it): what it handled and what failed.
        failures = outcome.report.failures
        return {
            "batch": batch_id,
            "files": len(paths),
            **tally,
            "to_summarize": len(outcome.to_summarize),
            "failures": [{"file": item.source_uri, "reason": item.reason} for item in failures[:RESULT_ITEMS]],
        }

    @app.task(name="docsum.summarize_chunk", bind=True, shared=False, **RETRY_OPTIONS)
    def summarize_chunk(self, job_ids: list[int]) -> dict:
        started = time.perf_counter()
        try:
            settings = app.docsum_settings
            outcome = summarize.summarize_chunk(
                app.session_factory,
                settings.max_deliveries,
                job_ids,
                metrics.timed_loader(settings),
                _hostname(self.request.hostname),
                **store_slices(settings),
            )
        except TRANSIENT_ERRORS as error:
            stop_if_lasting(app, error)
            raise
        except Exception as error:
            # A bug, not a bad document (those fail inside): fail the chunk's running jobs rather than strand them.
            reason = f"internal error: {type(error).__name__}: {error}"
            failed = summarize.fail_running_jobs(app.session_factory, job_ids, reason, FailureClass.internal)
            log.exception("%s: internal error; %d jobs failed", summarize.describe_chunk(job_ids), len(failed))
            raise
        metrics.count_chunk(outcome, settings, time.perf_counter() - started)
        for batch_id in sorted(outcome.batch_ids):
            runs.finish_if_done(app.session_factory, settings, batch_id)
        log.info(
            "%s: %d succeeded, %d failed, %d skipped · %s",
            summarize.describe_chunk(job_ids),
            len(outcome.succeeded),
            len(outcome.failed),
            len(outcome.skipped),
            outcome.describe_timings(),
        )
        return {
            "batches": sorted(outcome.batch_ids),
            "succeeded": len(outcome.succeeded),
            "failed": len(outcome.failed),
            "skipped": len(outcome.skipped),
            "failed_jobs": outcome.failed[:RESULT_ITEMS],
        }

    # Not acks_late: a lost nightly run is simply run again the next night, never redelivered mid-archive.
    @app.task(name="docsum.nightly", bind=True, shared=False, acks_late=False, **RETRY_OPTIONS)
    def nightly(self, roots: list[str]) -> int:
        settings = app.docsum_settings
        params = batches.job_params(settings.summary_sentences)
        try:
            outcome = runs.start_nightly(
                app.session_factory, settings, CelerySender(app), roots, resolve_model(settings), params
            )
        except TRANSIENT_ERRORS as error:
            stop_if_lasting(app, error)
            raise
        log.info(
            "nightly batch %s: %s; %d documents to summarize now",
            outcome.batch_id,
            describe_scan(outcome.scan),
            len(outcome.to_summarize),
        )
        return outcome.batch_id
