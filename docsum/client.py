"""`docsum.Client`: submit documents, follow batches, read results.

    from docsum import Client
    client = Client()                       # DOCSUM_* settings: Redis + PostgreSQL, or the embedded default
    batch = client.submit(["reports/", "paper.pdf"], name="q3 reports")
    client.wait(batch, progress=lambda s: print(s.done, "/", s.jobs))
    for record in client.results(batch):
        print(record.source_uri, record.summary)

With DOCSUM_BROKER_URL set, work goes to the worker fleet through Redis. Unset (the embedded default), the client
migrates the SQLite database and runs a real Celery worker in a thread of this process, started on first submit and
stopped by `close()` (or leaving a `with Client() as client:` block).

The client is a thin face: what happens to batches is in `docsum.services`, how work moves is in `docsum.worker`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import kombu.exceptions
import redis.exceptions

from docsum.config import Settings, get_settings
from docsum.db.migrate import upgrade
from docsum.db.session import session_scope
from docsum.ingest.sources import walk_paths
from docsum.services import batches
from docsum.services.batches import BatchNotFound, BatchReport, ResultRecord
from docsum.services.export import export_format, write_results
from docsum.services.models import resolve_model
from docsum.services.nightly import plan_nightly
from docsum.worker.app import create_app
from docsum.worker.embedded import embedded_worker
from docsum.worker.tasks import enqueue_ingest, enqueue_nightly, enqueue_summarize

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from docsum.services.nightly import NightlyOutcome

__all__ = ["BatchNotFound", "BatchReport", "Client", "ResultRecord", "collect_files", "export_format", "write_results"]


def _is_id(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def collect_files(paths: Iterable[str | Path]) -> list[str]:
    """Files named, or found under named directories (ingest's walking rules: sorted, hidden entries skipped), as
    absolute paths. Raises FileNotFoundError naming every missing path, before anything is submitted."""
    given = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise FileNotFoundError(f"not found: {', '.join(missing)}")
    files, refused = walk_paths(list(given))
    for link, reason in refused:  # a link out of a walked directory is not submitted
        logging.getLogger(__name__).warning("%s: %s", link, reason)
    return list(dict.fromkeys(str(p.resolve()) for p in files if p.is_file()))


# The broker is unreachable (what enqueueing raises then).
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Client:
    """Submit, follow and read batches. Reads the same settings as the workers."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.app = create_app(self.settings)
        self._stack = ExitStack()
        self._worker = None  # the embedded worker, once started
        if self.app.embedded:
            upgrade(self.settings.database_url)  # the embedded default sets itself up

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self.app.session_factory

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self.app.embedded and self._worker is None:
            self._worker = self._stack.enter_context(embedded_worker(self.app))

    def close(self) -> None:
        """Stop the embedded worker, if one runs (a task in progress finishes first)."""
        self._stack.close()
        self._worker = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submit ---------------------------------------------------------------------------------------------------
    def submit(
        self,
        paths_or_document_ids: str | Path | int | Sequence[str | Path] | Sequence[int],
        name: str | None = None,
        model: str | None = None,
        k: int | None = None,
    ) -> int:
        """Create a batch and enqueue its work; returns the batch id.

        Paths (files and directories, walked here) go through the ingest queue in chunks of ingest_chunk_size
        files; document ids already stored get their jobs at once, enqueued in chunks of chunk_size. `k` defaults
        to DOCSUM_SUMMARY_SENTENCES.
        """
        items = [paths_or_document_ids] if isinstance(paths_or_document_ids, (str, Path, int)) else list(paths_or_document_ids)
        if not items:
            raise ValueError("nothing to submit: give paths or document ids")
        params = batches.job_params(k or self.settings.summary_sentences)
        if all(_is_id(i) for i in items):
            files: list[str] = []
            kind = "documents"
        elif all(isinstance(i, (str, Path)) for i in items):
            files = collect_files(items)  # type: ignore[arg-type]
            if not files:
                raise ValueError(f"no files found under {', '.join(map(str, items))}")
            kind = "files"
        else:
            raise TypeError("submit takes paths or document ids, not a mix")
        model_ref = resolve_model(self.settings, model, keep=self.app.embedded)
        name = name or f"{kind} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"

        with session_scope(self.session_factory) as session:
            batch = batches.create_batch(session, name, model_ref, params, files_total=len(files))
            batch_id = batch.id
            if not files:
                batches.add_jobs(session, batch, items)  # type: ignore[arg-type]
            queued = batches.dispatch(session, batch_id, 1, everything=True)
        # Enqueue only after the batch and its jobs are committed: a worker must find them.
        self._ensure_worker()
        try:
            if files:
                enqueue_ingest(self.app, batch_id, files)
            else:
                enqueue_summarize(self.app, queued)
        except BROKER_ERRORS as error:
            self._abandon(batch_id, error)
        if not files:
            self._finish_if_done(batch_id)  # every document may have failed extraction
        return batch_id

    def _abandon(self, batch_id: int, error: BaseException) -> None:
        """The broker is unreachable: cancel the batch (workers skip anything of it already enqueued), never leave it
        running forever, and say so."""
        from docsum.outages import BrokerUnavailable

        with session_scope(self.session_factory) as session:
            batches.cancel_batch(session, batch_id)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise BrokerUnavailable(
            f"cannot reach the broker: {first_line}; batch {batch_id} was cancelled (check DOCSUM_BROKER_URL and "
            "that Redis is up, then submit again)"
        ) from error

    def nightly(self, roots: Sequence[str | Path], model: str | None = None, k: int | None = None) -> NightlyOutcome:
        """The nightly bulk run, started here: scan the roots, send new and changed files to the ingest workers and
        stored documents lacking a summary to the summarize workers (see services.nightly)."""
        missing = [str(r) for r in roots if not Path(r).exists()]
        if missing:
            raise FileNotFoundError(f"not found: {', '.join(missing)}")
        params = batches.job_params(k or self.settings.summary_sentences)
        model_ref = resolve_model(self.settings, model, keep=self.app.embedded)
        outcome = plan_nightly(self.session_factory, [str(r) for r in roots], model_ref, params)
        if outcome.to_ingest or outcome.to_summarize:
            self._ensure_worker()
            enqueue_nightly(self.app, outcome)
        return outcome

    # --- follow ---------------------------------------------------------------------------------------------------
    def status(self, batch_id: int) -> BatchReport:
        """The batch as of now. Raises BatchNotFound."""
        with self.session_factory() as session:
            return batches.batch_report(session, batch_id)

    def _finish_if_done(self, batch_id: int) -> bool:
        with session_scope(self.session_factory) as session:
            return batches.maybe_finish_batch(session, batch_id)

    def wait(
        self,
        batch_id: int,
        timeout: float | None = None,
        progress: Callable[[BatchReport], None] | None = None,
        poll_interval: float = 0.5,
    ) -> BatchReport:
        """Block until the batch is finished or cancelled (finishing it if this call sees the last job end).

        Raises TimeoutError after `timeout` seconds; the batch keeps running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self.status(batch_id)
            if progress is not None:
                progress(report)
            if report.status != "running":
                return report
            if report.complete:
                self._finish_if_done(batch_id)
                continue
            if self._worker is not None and not self._worker.alive:
                raise RuntimeError(f"the embedded worker stopped before batch {batch_id} finished (see the log above)")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"batch {batch_id} not finished after {timeout} s: files {report.files_done}/{report.files_total}, "
                    f"jobs {report.counts}"
                )
            time.sleep(poll_interval)

    # --- results and control --------------------------------------------------------------------------------------
    def results(self, batch_id: int) -> Iterator[ResultRecord]:
        """One record per document of the batch, in job order (streamed from the database). Raises BatchNotFound."""
        with self.session_factory() as session:
            yield from batches.batch_results(session, batch_id)

    def cancel(self, batch_id: int) -> int:
        """Cancel the batch: queued and running jobs become cancelled and workers skip them. Returns how many
        (0 for a batch already cancelled)."""
        with session_scope(self.session_factory) as session:
            return batches.cancel_batch(session, batch_id)

    def retry_failed(self, batch_id: int) -> int:
        """Put the batch's failed jobs back in the queue. Returns how many were re-enqueued."""
        with session_scope(self.session_factory) as session:
            requeued = batches.retry_failed(session, batch_id)
        if requeued:
            self._ensure_worker()
            enqueue_summarize(self.app, requeued)
        else:
            self._finish_if_done(batch_id)  # reopened, but every failure was its document's
        return len(requeued)
