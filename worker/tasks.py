"""The Celery tasks: thin wrappers around `worker.jobs`, plus the enqueue helpers the client and tasks share.

Transient failures (database or broker unreachable) retry with exponential backoff; a bad document never raises out
of a task, it fails its own job with a reason.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

from docsum.db.session import session_scope
from docsum.worker import jobs
from docsum.worker.deliveries import TaskDeliveries, ingest_redelivered
from docsum.worker.model_cache import get_summarizer, resolve_model

if TYPE_CHECKING:
    from docsum.worker.app import DocsumCelery

log = logging.getLogger(__name__)

# Worth retrying: the database or the broker went away for a moment (psycopg disconnects surface as
# OperationalError/InterfaceError; SQLite's "database is locked" is an OperationalError too).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,  # 2, 4, 8, ... seconds
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 10,
}


def enqueue_summarize(app: DocsumCelery, job_ids: Sequence[int]) -> int:
    """Send summarize tasks in chunks of settings.chunk_size (call only after the jobs' transaction committed)."""
    chunks = jobs.chunked(list(job_ids), app.docsum_settings.chunk_size)
    task = app.tasks["docsum.summarize_chunk"]
    for chunk in chunks:
        task.apply_async(args=[chunk], argsrepr=jobs.describe_chunk(chunk))
    return len(chunks)


def enqueue_ingest(app: DocsumCelery, batch_id: int, paths: Sequence[str]) -> int:
    """Send ingest tasks in chunks of settings.ingest_chunk_size files (after the batch committed)."""
    size = app.docsum_settings.ingest_chunk_size
    task = app.tasks["docsum.ingest_files"]
    n = 0
    for start in range(0, len(paths), size):
        part = list(paths[start : start + size])
        task.apply_async(args=[batch_id, part], argsrepr=f"batch {batch_id}: {len(part)} file{'s' if len(part) != 1 else ''}")
        n += 1
    return n


def _hostname(request_hostname: str | None) -> str:
    return request_hostname or socket.gethostname()


def register_tasks(app: DocsumCelery) -> None:
    """Register the docsum tasks on `app` (each app gets its own task objects bound to its settings)."""

    @app.task(name="docsum.ingest_files", bind=True, shared=False, **RETRY_OPTIONS)
    def ingest_files(self, batch_id: int, paths: list[str]) -> None:
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
                outcome = jobs.ingest_files(app.session_factory, app.docsum_settings, batch_id, paths)
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            # Not worth a retry, and the task will not come back: count the files so that the batch can finish.
            log.exception("batch %s: ingest of %d files failed; counting them done without documents", batch_id, len(paths))
            with session_scope(app.session_factory) as session:
                jobs.count_files_done(session, batch_id, len(paths))
            jobs.maybe_finish_batch(app.session_factory, batch_id)
            raise
        enqueue_summarize(app, outcome.to_summarize)
        jobs.maybe_finish_batch(app.session_factory, batch_id)
        counts.forget()
        log.info(
            "batch %s: %d files -> %d ingested, %d duplicates, %d failed; %d jobs to summarize",
            batch_id, len(paths), outcome.ingested, outcome.duplicates, outcome.failed, len(outcome.to_summarize),
        )

    @app.task(name="docsum.summarize_chunk", bind=True, shared=False, **RETRY_OPTIONS)
    def summarize_chunk(self, job_ids: list[int]) -> None:
        try:
            outcome = jobs.summarize_chunk(
                app.session_factory, app.docsum_settings, job_ids, get_summarizer, _hostname(self.request.hostname)
            )
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:
            # A bug, not a bad document (those fail inside): fail the chunk's running jobs rather than strand them.
            failed = jobs.fail_running_jobs(app.session_factory, job_ids, f"internal error: {type(error).__name__}: {error}")
            log.exception("%s: internal error; %d jobs failed", jobs.describe_chunk(job_ids), len(failed))
            raise
        for batch_id in sorted(outcome.batch_ids):
            jobs.maybe_finish_batch(app.session_factory, batch_id)
        log.info(
            "%s: %d succeeded, %d failed, %d skipped",
            jobs.describe_chunk(job_ids), len(outcome.succeeded), len(outcome.failed), len(outcome.skipped),
        )

    # Not acks_late: a lost nightly run is simply run again the next night, never redelivered mid-archive.
    @app.task(name="docsum.nightly", bind=True, shared=False, acks_late=False, **RETRY_OPTIONS)
    def nightly(self, roots: list[str]) -> int:
        settings = app.docsum_settings
        outcome = jobs.plan_nightly(
            app.session_factory, settings, roots, resolve_model(settings), jobs.job_params(settings.summary_sentences)
        )
        enqueue_summarize(app, outcome.to_summarize)
        log.info(
            "nightly batch %s: %d files (%d new), %s",
            outcome.batch_id, outcome.files, outcome.ingested,
            f"{len(outcome.to_summarize)} documents to summarize" if outcome.to_summarize else "nothing to summarize",
        )
        return outcome.batch_id
