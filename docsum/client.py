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
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select

from docsum.config import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from docsum.worker.jobs import NightlyOutcome


@dataclass(frozen=True)
class BatchReport:
    """A batch as of now: ingest progress, job counts by state, throughput."""

    batch_id: int
    name: str
    status: str  # running | finished | cancelled
    model_id: str | None
    files_total: int
    files_done: int
    counts: dict[str, int]  # queued, running, succeeded, failed, cancelled
    created_at: datetime
    finished_at: datetime | None
    elapsed_s: float

    @property
    def jobs(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Jobs in a final state."""
        return self.counts["succeeded"] + self.counts["failed"] + self.counts["cancelled"]

    @property
    def docs_per_s(self) -> float:
        """Documents summarized or failed per second since the batch was created."""
        finished = self.counts["succeeded"] + self.counts["failed"]
        return finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every file ingested and no job queued or running (the batch can be, or has been, finished)."""
        return self.status != "running" or (
            self.files_done >= self.files_total and self.counts["queued"] == 0 and self.counts["running"] == 0
        )


@dataclass(frozen=True)
class ResultRecord:
    """One document of a batch: its summary (sentences in document order, their indices and scores) or its error.

    `sentences` cites each summary sentence: {"text", "index", "page" (1-based, PDFs), "start", "end" (character
    span in the stored document text), "score", "ocr"}. `note` says when the summary is not the model's pick."""

    job_id: int
    document_id: int
    source_uri: str
    title: str | None
    status: str
    summary: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    error: str | None = None
    model_id: str | None = None
    batch_id: int | None = None
    media_type: str | None = None
    language: str | None = None
    content_sha256: str | None = None
    page_count: int | None = None
    sentences: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cited_sentences(
    sentences: Sequence[str], info: Sequence[dict[str, Any]] | None, indices: Sequence[int], scores: Sequence[float]
) -> list[dict[str, Any]]:
    """Summary sentences with their citation: text, index, page, start, end, score, ocr (None where unknown)."""
    cited = []
    for index, score in zip(indices, scores):
        record = info[index] if info and index < len(info) else {}
        cited.append(
            {
                "text": sentences[index] if index < len(sentences) else None,
                "index": index,
                "page": record.get("page"),
                "start": record.get("start"),
                "end": record.get("end"),
                "score": score,
                "ocr": bool(record.get("ocr", False)),
            }
        )
    return cited


def _is_id(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def collect_files(paths: Iterable[str | Path]) -> list[str]:
    """Files named, or found under named directories (ingest's walking rules: sorted, hidden entries skipped), as
    absolute paths. Raises FileNotFoundError naming every missing path, before anything is submitted."""
    from docsum.ingest.sources import expand_paths

    given = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise FileNotFoundError(f"not found: {', '.join(missing)}")
    return list(dict.fromkeys(str(p.resolve()) for p in expand_paths(list(given)) if p.is_file()))


class Client:
    """Submit, follow and read batches. Reads the same settings as the workers."""

    def __init__(self, settings: Settings | None = None) -> None:
        from docsum.worker.app import create_app

        self.settings = settings or get_settings()
        self.app = create_app(self.settings)
        self._stack = ExitStack()
        self._worker = None  # the embedded worker, once started
        if self.app.embedded:
            from docsum.db.migrate import upgrade

            upgrade(self.settings.database_url)  # the embedded default sets itself up

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self.app.session_factory

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self.app.embedded and self._worker is None:
            from docsum.worker.embedded import embedded_worker

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
        k: int = 3,
    ) -> int:
        """Create a batch and enqueue its work; returns the batch id.

        Paths (files and directories, walked here) go through the ingest queue in chunks of ingest_chunk_size
        files; document ids already stored get their jobs at once, enqueued in chunks of chunk_size.
        """
        from docsum.db.session import session_scope
        from docsum.worker import jobs
        from docsum.worker.model_cache import resolve_model
        from docsum.worker.tasks import enqueue_ingest, enqueue_summarize

        items = [paths_or_document_ids] if isinstance(paths_or_document_ids, (str, Path, int)) else list(paths_or_document_ids)
        if not items:
            raise ValueError("nothing to submit: give paths or document ids")
        params = jobs.job_params(k)
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
            batch = jobs.create_batch(session, name, model_ref, params, files_total=len(files))
            batch_id = batch.id
            queued = [] if files else jobs.add_jobs(session, batch, items)  # type: ignore[arg-type]
        # Enqueue only after the batch and its jobs are committed: a worker must find them.
        self._ensure_worker()
        if files:
            enqueue_ingest(self.app, batch_id, files)
        else:
            enqueue_summarize(self.app, queued)
            jobs.maybe_finish_batch(self.session_factory, batch_id)  # every document may have failed extraction
        return batch_id

    def nightly(self, roots: Sequence[str | Path], model: str | None = None, k: int | None = None) -> NightlyOutcome:
        """The nightly bulk run, here: ingest the roots, enqueue what lacks a summary (see worker.jobs.plan_nightly)."""
        from docsum.worker import jobs
        from docsum.worker.model_cache import resolve_model
        from docsum.worker.tasks import enqueue_summarize

        missing = [str(r) for r in roots if not Path(r).exists()]
        if missing:
            raise FileNotFoundError(f"not found: {', '.join(missing)}")
        params = jobs.job_params(k or self.settings.summary_sentences)
        model_ref = resolve_model(self.settings, model, keep=self.app.embedded)
        absolute = [str(Path(r).resolve()) for r in roots]
        outcome = jobs.plan_nightly(self.session_factory, self.settings, absolute, model_ref, params)
        if outcome.to_summarize:
            self._ensure_worker()
            enqueue_summarize(self.app, outcome.to_summarize)
        return outcome

    # --- follow ---------------------------------------------------------------------------------------------------
    def status(self, batch_id: int) -> BatchReport:
        from docsum.db import status as db_status
        from docsum.db.models import Batch

        with self.session_factory() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} does not exist")
            counts = db_status.batch_counts(session, batch_id)
        end = batch.finished_at or datetime.now(UTC)
        return BatchReport(
            batch_id=batch.id,
            name=batch.name,
            status=str(batch.status),
            model_id=batch.model_id,
            files_total=batch.files_total,
            files_done=batch.files_done,
            counts={str(k): v for k, v in counts.items()},
            created_at=batch.created_at,
            finished_at=batch.finished_at,
            elapsed_s=max(0.0, (end - batch.created_at).total_seconds()),
        )

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
        from docsum.worker.jobs import maybe_finish_batch

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self.status(batch_id)
            if progress is not None:
                progress(report)
            if report.status != "running":
                return report
            if report.complete:
                maybe_finish_batch(self.session_factory, batch_id)
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
        """One record per document of the batch, in job order (streamed from the database)."""
        from docsum.db.models import Document, Job, Summary

        stmt = (
            select(
                Job, Document.source_uri, Document.title, Document.sentences, Summary, Document.sentence_info,
                Document.media_type, Document.language, Document.content_sha256, Document.page_count,
            )
            .join(Document, Document.id == Job.document_id)
            .outerjoin(Summary, Summary.job_id == Job.id)
            .where(Job.batch_id == batch_id)
            .order_by(Job.id)
            .execution_options(yield_per=500)
        )
        with self.session_factory() as session:
            for row in session.execute(stmt):
                job, source_uri, title, sentences, summary, info, media_type, language, sha, pages = row
                indices = list(summary.sentence_indices) if summary else []
                scores = list(summary.scores) if summary else []
                yield ResultRecord(
                    job_id=job.id,
                    document_id=job.document_id,
                    source_uri=source_uri,
                    title=title,
                    status=str(job.status),
                    summary=[sentences[i] for i in indices] if summary and sentences else [],
                    indices=indices,
                    scores=scores,
                    error=job.error,
                    model_id=summary.model_id if summary else job.model_id,
                    batch_id=job.batch_id,
                    media_type=media_type,
                    language=language,
                    content_sha256=sha,
                    page_count=pages,
                    sentences=cited_sentences(sentences or [], info, indices, scores),
                    note=summary.note if summary else None,
                )

    def cancel(self, batch_id: int) -> int:
        """Cancel the batch: queued and running jobs become cancelled and workers skip them. Returns how many."""
        from docsum.worker.jobs import cancel_batch

        return cancel_batch(self.session_factory, batch_id)

    def retry_failed(self, batch_id: int) -> int:
        """Put the batch's failed jobs back in the queue. Returns how many were re-enqueued."""
        from docsum.worker.jobs import maybe_finish_batch, retry_failed
        from docsum.worker.tasks import enqueue_summarize

        requeued = retry_failed(self.session_factory, batch_id)
        if requeued:
            self._ensure_worker()
            enqueue_summarize(self.app, requeued)
        else:
            maybe_finish_batch(self.session_factory, batch_id)  # reopened, but every failure was its document's
        return len(requeued)


# --- export -----------------------------------------------------------------------------------------------------

EXPORT_FORMATS = ("jsonl", "csv")
CSV_FIELDS = [
    "job_id", "document_id", "source_uri", "title", "status", "summary", "indices", "scores", "error", "model_id",
    "batch_id", "media_type", "language", "content_sha256", "page_count", "sentences", "note",
]


def export_format(path: str | Path) -> str:
    """'jsonl' or 'csv' from a file name; anything else is refused before any work is done."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv"}.get(suffix)
    if fmt is None:
        raise ValueError(f"cannot export to {path}: use a .jsonl or .csv file name")
    return fmt


def write_results(records: Iterable[ResultRecord], out: IO[str], fmt: str) -> int:
    """Write records as JSON lines or CSV (summary sentences joined by a space; lists as JSON). Returns the count."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    n = 0
    for record in records:
        row = record.to_dict()
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            row.update(
                summary=" ".join(record.summary),
                indices=json.dumps(record.indices),
                scores=json.dumps(record.scores),
                sentences=json.dumps(record.sentences, ensure_ascii=False),
            )
            writer.writerow(row)
        n += 1
    return n
