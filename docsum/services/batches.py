"""Batches and their jobs: create, add jobs, finish, cancel, retry, status and results.

Every function here is one unit of work inside the caller's transaction: it takes a `Session`, changes rows through
`docsum.db.status`, and never commits (the caller wraps it in `session_scope`). Work that must be enqueued is
returned, so that the caller enqueues only after the transaction that created it committed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from docsum.db import status as db_status
from docsum.db.bulk import among, insert_jobs, is_postgres
from docsum.db.models import Batch, BatchStatus, Document, DocumentStatus, Job, JobStatus, Summary, params_key
from docsum.errors import BatchCancelled, BatchNotFound, FailureClass
from docsum.services.models import ModelRef
from docsum.services.owners import owner_gone

__all__ = ["BatchCancelled", "BatchNotFound", "BatchReport", "ResultRecord"]

SUMMARY_PARAMS = ("k", "block_trigrams", "max_words")


def job_params(k: int, block_trigrams: bool = True, max_words: int | None = None) -> dict[str, Any]:
    """The summary parameters of a job (what a summary's params_key is computed from)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return {"k": k, "block_trigrams": block_trigrams, "max_words": max_words}


def get_batch(session: Session, batch_id: int, for_update: bool = False) -> Batch:
    batch = session.get(Batch, batch_id, with_for_update=for_update)
    if batch is None:
        raise BatchNotFound(batch_id)
    return batch


def create_batch(
    session: Session, name: str, model: ModelRef, params: dict[str, Any], files_total: int = 0, **extra: Any
) -> Batch:
    """A running batch. Its params keep the model directory (workers load it) besides the summary params."""
    batch = Batch(
        name=name, model_id=model.model_id, params={**params, "model": model.path, **extra}, files_total=files_total
    )
    session.add(batch)
    session.flush()
    return batch


def unsummarizable(document: Document) -> tuple[str, FailureClass] | None:
    """Why this document cannot be summarized, and the class of that, or None if it can."""
    return _reason(document.status, document.error, document.failure_class, bool(document.sentences))


def add_jobs(
    session: Session, batch: Batch, document_ids: Iterable[int], sent: bool = False, new_batch: bool = False
) -> list[int]:
    """One job per document in this batch (existing ones reused: a redelivered ingest task adds nothing twice).

    Returns the ids of the jobs left queued. A document that failed extraction, or has no sentences, gets its job
    failed at once with the document's reason. New jobs are inserted in one statement (a batch of a million
    documents is a million rows, not a million round trips). `sent`: new jobs are marked sent to the broker as they
    are inserted, for a caller that enqueues all the returned ids once this commits (instead of `dispatch`, which
    would mark them in a second pass over the rows). `new_batch`: the batch was created in this transaction, so it
    has no job yet and none is looked up (a submit of many documents spares two reads of all of them).
    """
    params = {key: batch.params[key] for key in SUMMARY_PARAMS}
    key = params_key(params)
    wanted = list(dict.fromkeys(document_ids))
    if not wanted:
        return []
    existing: dict[int, int] = (
        {}
        if new_batch
        else dict(
            session.execute(
                select(Job.document_id, Job.id).where(Job.batch_id == batch.id, among(session, Job.document_id, wanted))
            ).all()
        )
    )
    new = [d for d in wanted if d not in existing]
    documents = (
        {
            row.id: row
            for row in session.execute(
                select(
                    Document.id,
                    Document.status,
                    Document.error,
                    Document.failure_class,
                    _has_sentences(session).label("has_sentences"),
                ).where(among(session, Document.id, new))
            )
        }
        if new
        else {}
    )
    missing = [d for d in new if d not in documents]
    if missing:
        raise LookupError(f"document {missing[0]} does not exist")
    failed: set[int] = set()  # new jobs settled at once: failed, or succeeded with an earlier summary
    if new:
        created = insert_jobs(session, batch.id, new, batch.model_id, params, key, sent)
        existing.update({document_id: job_id for job_id, document_id in created})
        for document_id in new:
            row = documents[document_id]
            why = _reason(row.status, row.error, row.failure_class, bool(row.has_sentences))
            if why is not None:
                job_id = existing[document_id]
                db_status.fail_queued_job_for_document(session, session.get(Job, job_id), *why)
                failed.add(job_id)
        if not batch.params.get("force"):
            failed.update(_settle_summarized(session, batch, [existing[d] for d in new if existing[d] not in failed]))
    if len(new) == len(wanted):  # every job was made just now: queued unless failed above
        return [existing[d] for d in wanted if existing[d] not in failed]
    queued = set(
        session.scalars(
            select(Job.id).where(among(session, Job.id, [existing[d] for d in wanted]), Job.status == JobStatus.queued)
        )
    )
    return [existing[d] for d in wanted if existing[d] in queued]


# The worker_host of a job settled at submit time because its document already had a summary.
ALREADY_SUMMARIZED = "(summarized before)"


def _settle_summarized(session: Session, batch: Batch, job_ids: list[int]) -> list[int]:
    """New jobs whose document already has a summary from the batch's model and parameters succeed at once, without
    summarizing it again (a rerun after a kill, or a second run over the same files); their results show that
    summary. Returns their ids."""
    summarized = Summary.document_id == Job.document_id
    same = and_(summarized, Summary.model_id == Job.model_id, Summary.params_key == Job.params_key)
    settled: list[int] = []
    for start in range(0, len(job_ids), 5_000):
        part = job_ids[start : start + 5_000]
        done = list(session.scalars(select(Job.id).where(among(session, Job.id, part), exists().where(same))))
        # Through running, as a worker would take it: the transitions stay the ones db.status allows.
        started = db_status.mark_jobs_running(session, done, ALREADY_SUMMARIZED)
        settled.extend(db_status.mark_jobs_succeeded(session, started))
    return settled


def _has_sentences(session: Session) -> ColumnElement[bool]:
    """sentences is a non-empty JSON list, decided in SQL without sending it ('[]' and 'null' are 2 and 4 long).
    PostgreSQL counts bytes (octet_length): length() would count characters, walking every document's text."""
    size = func.octet_length if is_postgres(session) else func.length
    return Document.sentences.is_not(None) & (size(cast(Document.sentences, String)) > 4)


def _reason(
    status: DocumentStatus, error: str | None, failure: str | None, has_sentences: bool
) -> tuple[str, FailureClass] | None:
    """A job for a document that failed shares its reason and class."""
    if status == DocumentStatus.failed:
        return error or "document failed extraction", FailureClass.of_failed(failure)
    if not has_sentences:
        return "document has no sentences", FailureClass.no_text
    return None


def without_summary(session: Session, document_ids: Iterable[int], batch: Batch) -> list[int]:
    """The documents among these that this batch must summarize: no summary yet for its model and summary params,
    and none on its way in another batch (an open job there), so that two nightly runs over the same roots at once
    summarize each document once."""
    ids = list(dict.fromkeys(document_ids))
    key = params_key({name: batch.params[name] for name in SUMMARY_PARAMS})
    done = set(
        session.scalars(
            select(Summary.document_id).where(
                Summary.document_id.in_(ids), Summary.model_id == batch.model_id, Summary.params_key == key
            )
        )
    )
    elsewhere = set(
        session.scalars(
            select(Job.document_id).where(
                Job.document_id.in_(ids),
                Job.model_id == batch.model_id,
                Job.params_key == key,
                Job.batch_id != batch.id,
                Job.status.not_in(FINAL_STATES),
            )
        )
    )
    return [i for i in ids if i not in done and i not in elsewhere]


def dispatch(session: Session, batch_id: int, chunk_size: int, everything: bool) -> list[int]:
    """Queued jobs of the batch not yet sent to the broker, marked sent (enqueued_at) and returned for the caller to
    enqueue after this commit: whole chunks of `chunk_size` only, unless `everything` (the batch's last file is in).
    So summarize tasks carry full chunks whatever size the ingest tasks have; call it under the batch row lock."""
    pending = list(
        session.scalars(
            select(Job.id)
            .where(Job.batch_id == batch_id, Job.status == JobStatus.queued, Job.enqueued_at.is_(None))
            .order_by(Job.id)
        )
    )
    taken = pending if everything else pending[: len(pending) - len(pending) % chunk_size]
    for start in range(0, len(taken), 5_000):
        session.execute(
            update(Job)
            .where(among(session, Job.id, taken[start : start + 5_000]))
            .values(enqueued_at=func.now())
            .execution_options(synchronize_session=False)
        )
    return taken


def count_files_done(session: Session, batch_id: int, n: int) -> None:
    """files_done += n in SQL (concurrent ingest tasks), capped at files_total (a redelivered task counts once)."""
    bumped = Batch.files_done + n
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(files_done=case((bumped > Batch.files_total, Batch.files_total), else_=bumped))
        .execution_options(synchronize_session=False)
    )


def maybe_finish_batch(session: Session, batch_id: int) -> bool:
    """Finish the batch if every file is ingested and no job is queued or running. Idempotent; True if it did.

    The batch row is locked, so of several observers (workers finishing chunks, a waiting client) one finishes it.
    """
    batch = session.get(Batch, batch_id, with_for_update=True)
    if batch is None or batch.status != BatchStatus.running or batch.files_done < batch.files_total:
        return False
    if db_status.has_open_jobs(session, batch_id):
        return False
    try:
        db_status.finish_batch(session, batch)
    except db_status.IllegalTransition:
        # SQLite has no row locks (FOR UPDATE is ignored): another observer finished it between our read and the
        # conditional update, which is the real guard. Finished once is what was wanted.
        return False
    return True


def cancel_batch(session: Session, batch_id: int) -> int:
    """Cancel a batch: its queued and running jobs become cancelled (workers skip them); returns how many.
    Idempotent: a batch already cancelled, or already finished (nothing left to cancel), is left as it is and 0 is
    returned."""
    batch = get_batch(session, batch_id, for_update=True)
    if batch.status != BatchStatus.running:
        return 0
    return db_status.cancel_batch(session, batch)


def close_interrupted(session: Session) -> list[tuple[int, int]]:
    """Close every running batch whose embedded process is gone (see services.owners): its open jobs are cancelled
    and it is marked interrupted, so that no batch stays running forever; what it summarized stays, and a rerun
    does not summarize it again. Returns (batch id, jobs cancelled) per batch closed."""
    closed = []
    for batch in session.scalars(select(Batch).where(Batch.status == BatchStatus.running).order_by(Batch.id)):
        if not owner_gone(batch.params.get("owner")):
            continue
        try:
            cancelled = db_status.cancel_batch(session, batch)
        except db_status.IllegalTransition:  # it ended meanwhile (SQLite has no row locks): nothing to close
            continue
        batch.params = {**batch.params, "interrupted": True}
        closed.append((batch.id, cancelled))
    return closed


def retry_failed(session: Session, batch_id: int) -> list[int]:
    """Failed jobs of a batch back to queued (attempts reset; a finished batch reopens); returns their ids, to
    enqueue after this commit. Jobs whose document cannot be summarized fail again at once, with its reason; when
    that is every failed job (or there is none), nothing changes: a finished batch keeps its finish time."""
    batch = get_batch(session, batch_id, for_update=True)
    if batch.status == BatchStatus.cancelled:
        raise BatchCancelled(batch_id)
    failed = list(
        session.scalars(select(Job).where(Job.batch_id == batch_id, Job.status == JobStatus.failed).order_by(Job.id))
    )
    document_ids = [j.document_id for j in failed]
    documents = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(document_ids)))}
    reasons = {job.id: unsummarizable(documents[job.document_id]) for job in failed}
    if all(why is not None for why in reasons.values()):
        # Nothing can run again: a finished batch stays finished, with its timing and counts as they were.
        return []
    if batch.status == BatchStatus.finished:
        db_status.reopen_batch(session, batch)
    requeued = []
    for job in failed:
        db_status.requeue_job(session, job)
        why = reasons[job.id]
        if why is not None:  # the document still cannot be summarized: fail it again at once, with its reason
            db_status.fail_queued_job_for_document(session, job, *why)
        else:
            requeued.append(job.id)
    return requeued


# --- reading ----------------------------------------------------------------------------------------------------


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
    # The embedded process that ran it died before it ended (status "interrupted" while still open; a batch closed
    # since, by the next `docsum run`, is "cancelled" with this still set).
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)  # failed jobs by FailureClass value, largest first

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

    def __str__(self) -> str:
        """One line, for progress callbacks and logs: 'batch 7 "nov" running: 12/40 done (11 ok, 1 failed) ...'."""
        c = self.counts
        files = f" · files {self.files_done}/{self.files_total}" if self.files_total else ""
        return (
            f"batch {self.batch_id} {self.name!r} {self.status}: {self.done}/{self.jobs} done "
            f"({c['succeeded']} succeeded, {c['failed']} failed, {c['cancelled']} cancelled, {c['running']} running)"
            f"{files} · {self.elapsed_s:.1f} s · {self.docs_per_s:.2f} docs/s"
        )


def batch_report(session: Session, batch_id: int) -> BatchReport:
    batch = get_batch(session, batch_id)
    counts = db_status.batch_counts(session, batch_id)
    end = batch.finished_at or datetime.now(UTC)
    gone = batch.status == BatchStatus.running and owner_gone(batch.params.get("owner"))
    return BatchReport(
        batch_id=batch.id,
        name=batch.name,
        status="interrupted" if gone else str(batch.status),
        interrupted=gone or bool(batch.params.get("interrupted")),
        model_id=batch.model_id,
        files_total=batch.files_total,
        files_done=batch.files_done,
        counts={str(k): v for k, v in counts.items()},
        failures=db_status.failure_counts(session, batch_id) if counts.get("failed") else {},
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        elapsed_s=max(0.0, (end - batch.created_at).total_seconds()),
    )


@dataclass(frozen=True)
class ResultRecord:
    """One document of a batch: its summary (sentences in document order, their indices and scores) or its error.

    `sentences` cites each summary sentence: {"text", "index", "page" (1-based, PDFs), "start", "end" (character
    span in the stored document text), "score", "ocr"}. `note` says when the summary is not the model's pick;
    `extraction_note` what extraction left out of the stored text (pages past the cap, a cut page or text)."""

    job_id: int
    document_id: int
    source_uri: str
    title: str | None
    status: str
    summary: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    error: str | None = None
    failure_class: str | None = None  # beside `error`: one of docsum.errors.FailureClass
    model_id: str | None = None
    batch_id: int | None = None
    media_type: str | None = None
    language: str | None = None
    content_sha256: str | None = None
    page_count: int | None = None
    sentences: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    extraction_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cited_sentences(
    sentences: Sequence[str], info: Sequence[dict[str, Any]] | None, indices: Sequence[int], scores: Sequence[float]
) -> list[dict[str, Any]]:
    """Summary sentences with their citation: text, index, page, start, end, score, ocr (None where unknown)."""
    cited = []
    for index, score in zip(indices, scores, strict=False):
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


def batch_results(session: Session, batch_id: int, job_ids: Collection[int] | None = None) -> Iterator[ResultRecord]:
    """One record per document of the batch (or of those of its jobs given), in job order, streamed from the
    database."""
    get_batch(session, batch_id)
    stmt = (
        select(
            Job,
            Document.source_uri,
            Document.title,
            Document.sentences,
            Summary,
            Document.sentence_info,
            Document.media_type,
            Document.language,
            Document.content_sha256,
            Document.page_count,
            Document.notes,
        )
        .join(Document, Document.id == Job.document_id)
        .outerjoin(Summary, _summary_of(Job))
        .where(Job.batch_id == batch_id)
        .order_by(Job.id, Summary.job_id != Job.id)  # a job's own summary first, if the other one joined too
        .execution_options(yield_per=500)
    )
    if job_ids is not None:
        stmt = stmt.where(Job.id.in_(list(job_ids)))
    previous = None
    for job, source_uri, title, sentences, summary, info, media_type, language, sha, pages, notes in session.execute(
        stmt
    ):
        if job.id == previous:
            continue
        previous = job.id
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
            failure_class=job.failure_class,
            model_id=summary.model_id if summary else job.model_id,
            batch_id=job.batch_id,
            media_type=media_type,
            language=language,
            content_sha256=sha,
            page_count=pages,
            sentences=cited_sentences(sentences or [], info, indices, scores),
            note=summary.note if summary else None,
            extraction_note=notes,
        )


def _summary_of(job: type[Job]) -> ColumnElement[bool]:
    """The summary a job shows: its own, or for a succeeded job the one its document has from the same model and
    parameters (made by an earlier job, or replaced by a later forced one: there is at most one)."""
    same = and_(
        job.status == JobStatus.succeeded,
        Summary.document_id == job.document_id,
        Summary.model_id == job.model_id,
        Summary.params_key == job.params_key,
    )
    return or_(Summary.job_id == job.id, same)


FINAL_STATES = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


def final_since(session: Session, batch_id: int, marker: int) -> tuple[list[int], int]:
    """Ids of the batch's jobs made final (succeeded, failed, cancelled) after change marker `marker`, in the order
    they became final, and the marker to ask from next time. Reads only those jobs (the (batch_id, final_seq)
    index), so that following a batch costs what changed, not the batch's size. Markers follow the commits
    (Batch.final_seq), so a job that commits late still has a marker above any read before it."""
    rows = session.execute(
        select(Job.id, Job.final_seq)
        .where(Job.batch_id == batch_id, Job.final_seq > marker, Job.status.in_(FINAL_STATES))
        .order_by(Job.final_seq, Job.id)
    ).all()
    return [row.id for row in rows], max((row.final_seq for row in rows), default=marker)


def recent_batches(session: Session, limit: int = 20) -> list[BatchReport]:
    """The newest batches first, as reports (live counts)."""
    ids = list(session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(limit)))
    return [batch_report(session, batch_id) for batch_id in ids]
