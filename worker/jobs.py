"""What the tasks do, as plain functions on a session factory (tested directly, no Celery here).

Rules: tasks carry ids; every state change goes through `db.status`; work that must be enqueued is returned to the
caller, which enqueues only after the transaction that created it committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from docsum.db import status as db_status
from docsum.db.models import Batch, BatchStatus, Document, DocumentStatus, Job, JobStatus, Summary, params_key
from docsum.db.session import session_scope
from docsum.config import Settings
from docsum.worker.model_cache import ModelRef
from docsum.worker.summary_sentences import StoredPick, no_summary_reason, offered_indices, to_stored

if TYPE_CHECKING:
    from docsum.bertsum import ExtSummarizer

log = logging.getLogger(__name__)

SessionFactory = sessionmaker[Session]
# (settings, model path) -> the loaded summarizer; called only when a chunk has work (lazy model loading).
SummarizerLoader = Callable[[Settings, "str | None"], "ExtSummarizer"]

FINAL_JOB_STATES = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


def job_params(k: int = 3, block_trigrams: bool = True, max_words: int | None = None) -> dict[str, Any]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return {"k": k, "block_trigrams": block_trigrams, "max_words": max_words}


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def describe_chunk(job_ids: Sequence[int]) -> str:
    """How a summarize task shows in Flower and logs, e.g. 'jobs 1-64 (64 docs)'."""
    if not job_ids:
        return "no jobs"
    lo, hi = min(job_ids), max(job_ids)
    span = f"job {lo}" if lo == hi else f"jobs {lo}-{hi}"
    return f"{span} ({len(job_ids)} doc{'s' if len(job_ids) != 1 else ''})"


# --- batches and jobs ------------------------------------------------------------------------------------------


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


def _summary_params(batch: Batch) -> dict[str, Any]:
    return {key: batch.params[key] for key in ("k", "block_trigrams", "max_words")}


def add_jobs(session: Session, batch: Batch, document_ids: Iterable[int]) -> list[int]:
    """One job per document in this batch (existing ones reused: a redelivered ingest task adds nothing twice).

    Returns the ids of the jobs left queued. A document that failed extraction, or has no sentences, gets its job
    failed at once with the document's reason.
    """
    params = _summary_params(batch)
    key = params_key(params)
    wanted = list(dict.fromkeys(document_ids))
    if not wanted:
        return []
    existing = {
        job.document_id: job
        for job in session.scalars(select(Job).where(Job.batch_id == batch.id, Job.document_id.in_(wanted)))
    }
    documents = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(wanted)))}
    queued: list[int] = []
    for document_id in wanted:
        document = documents.get(document_id)
        if document is None:
            raise LookupError(f"document {document_id} does not exist")
        job = existing.get(document_id)
        if job is None:
            job = Job(
                batch_id=batch.id, document_id=document_id, model_id=batch.model_id, params=params, params_key=key
            )
            session.add(job)
            session.flush()
            reason = unsummarizable_reason(document)
            if reason is not None:
                db_status.fail_queued_job_for_document(session, job, reason)
                continue
        if job.status == JobStatus.queued:
            queued.append(job.id)
    return queued


def unsummarizable_reason(document: Document) -> str | None:
    if document.status == DocumentStatus.failed:
        return document.error or "document failed extraction"
    return no_summary_reason(document.sentences, document.sentence_info)


def count_files_done(session: Session, batch_id: int, n: int) -> None:
    """files_done += n in SQL (concurrent ingest tasks), capped at files_total (a redelivered task counts once)."""
    bumped = Batch.files_done + n
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(files_done=case((bumped > Batch.files_total, Batch.files_total), else_=bumped))
        .execution_options(synchronize_session=False)
    )


def maybe_finish_batch(session_factory: SessionFactory, batch_id: int) -> bool:
    """Finish the batch if every file is ingested and no job is queued or running. Idempotent; True if it did."""
    with session_scope(session_factory) as session:
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is None or batch.status != BatchStatus.running or batch.files_done < batch.files_total:
            return False
        counts = db_status.batch_counts(session, batch_id)
        if counts[JobStatus.queued] or counts[JobStatus.running]:
            return False
        try:
            db_status.finish_batch(session, batch)
        except db_status.IllegalTransition:  # another observer finished it first
            return False
        return True


# --- ingest ----------------------------------------------------------------------------------------------------


@dataclass
class IngestOutcome:
    batch_id: int
    to_summarize: list[int] = field(default_factory=list)  # queued job ids, to enqueue after commit
    ingested: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # files that produced no document at all


def ingest_files(session_factory: SessionFactory, settings: Settings, batch_id: int, paths: Sequence[str]) -> IngestOutcome:
    """Ingest files of a batch, create their jobs, count the files done, commit; return the jobs to enqueue."""
    from docsum.ingest.pipeline import ingest_file

    outcome = IngestOutcome(batch_id=batch_id)
    with session_scope(session_factory) as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise LookupError(f"batch {batch_id} does not exist")
        if batch.status == BatchStatus.cancelled:
            log.info("batch %s is cancelled; skipping %d files", batch_id, len(paths))
            return outcome

    document_ids: list[int] = []
    for path in paths:
        for item in ingest_file(session_factory, path, settings):
            if item.outcome == "ingested":
                outcome.ingested += 1
            elif item.outcome == "duplicate":
                outcome.duplicates += 1
            else:
                outcome.failed += 1
            if item.document_id is None:
                outcome.errors.append(f"{item.source_uri}: {item.reason}")
                log.warning("no document stored for %s: %s", item.source_uri, item.reason)
            else:
                document_ids.append(item.document_id)

    # The batch row lock serializes job creation per batch: two tasks ingesting copies of the same content cannot
    # both create its (batch, document) job; the second finds the first's.
    with session_scope(session_factory) as session:
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch.status == BatchStatus.running:
            outcome.to_summarize = add_jobs(session, batch, document_ids)
        count_files_done(session, batch_id, len(paths))
    return outcome


def unsummarized(session: Session, model_id: str, key: str) -> list[int]:
    """Extracted documents with neither a summary nor a pending job for this model and params (the nightly run)."""
    has_summary = exists().where(
        Summary.document_id == Document.id, Summary.model_id == model_id, Summary.params_key == key
    )
    pending = exists().where(
        Job.document_id == Document.id,
        Job.model_id == model_id,
        Job.params_key == key,
        Job.status.in_([JobStatus.queued, JobStatus.running]),
    )
    stmt = select(Document.id).where(Document.status == DocumentStatus.extracted, ~has_summary, ~pending)
    return list(session.scalars(stmt.order_by(Document.id)))


# --- summarize -------------------------------------------------------------------------------------------------


@dataclass
class ChunkOutcome:
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already final (redelivery), cancelled, or taken by another delivery
    batch_ids: set[int] = field(default_factory=set)
    one_by_one: bool = False  # a redelivered chunk: documents run and commit one at a time

    def merge(self, other: ChunkOutcome) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.skipped += other.skipped
        self.batch_ids |= other.batch_ids


@dataclass
class _Work:
    job: Job
    sentences: list[str]  # what the model is offered: the document's candidate sentences
    model_path: str | None
    params: dict[str, Any]
    stored: list[str] = field(default_factory=list)  # all stored sentences of the document
    info: list[dict[str, Any]] | None = None  # documents.sentence_info
    offered: list[int] = field(default_factory=list)  # stored index of each offered sentence


def _start_chunk(
    session_factory: SessionFactory, settings: Settings, job_ids: Sequence[int], worker_host: str, outcome: ChunkOutcome
) -> list[_Work]:
    """Mark the chunk's jobs running (attempts + 1) in a committed transaction, so a worker killed mid-chunk leaves a
    visible delivery count; jobs past the delivery cap fail instead of running again."""
    with session_scope(session_factory) as session:
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(list(job_ids))))}
        outcome.skipped.extend(i for i in job_ids if i not in jobs)
        runnable: list[int] = []
        for job_id in job_ids:
            job = jobs.get(job_id)
            if job is None:
                continue
            outcome.batch_ids.add(job.batch_id)
            if job.status in FINAL_JOB_STATES:
                outcome.skipped.append(job_id)
            elif job.attempts >= settings.max_deliveries:
                reason = f"gave up after {job.attempts} deliveries"
                if job.status == JobStatus.running:
                    db_status.mark_job_failed(session, job, reason)
                else:
                    db_status.fail_queued_job_for_document(session, job, reason)
                outcome.failed.append(job_id)
                log.error("job %s: %s", job_id, reason)
            else:
                runnable.append(job_id)
        started = set(db_status.mark_jobs_running(session, runnable, worker_host))
        outcome.skipped.extend(i for i in runnable if i not in started)
        if not started:
            return []
        rows = session.execute(
            select(Job, Document.sentences, Document.sentence_info, Batch.params)
            .join(Document, Document.id == Job.document_id)
            .join(Batch, Batch.id == Job.batch_id)
            .where(Job.id.in_(started))
            .order_by(Job.id)
        )
        work = []
        for job, sentences, info, batch_params in rows:
            stored = list(sentences or [])
            offered = offered_indices(stored, info)
            work.append(
                _Work(
                    job=job, sentences=[stored[i] for i in offered], model_path=batch_params.get("model"),
                    params=job.params, stored=stored, info=info, offered=offered,
                )
            )
        return work


def _summarize_group(summarizer: ExtSummarizer, work: list[_Work]) -> list[tuple[_Work, Any]]:
    """Run the engine over the whole group; if it raises, isolate the bad documents one by one."""
    p = work[0].params
    kwargs = {"k": p["k"], "block_trigrams": p["block_trigrams"], "max_words": p["max_words"]}
    try:
        return list(zip(work, summarizer.summarize([w.sentences for w in work], **kwargs), strict=True))
    except Exception as whole:  # noqa: BLE001 - a model error on one document must not fail the others
        if len(work) == 1:
            return [(work[0], whole)]
        log.warning("chunk of %d failed (%s); summarizing its documents one by one", len(work), whole)
        results: list[tuple[_Work, Any]] = []
        for w in work:
            try:
                results.append((w, summarizer.summarize([w.sentences], **kwargs)[0]))
            except Exception as error:  # noqa: BLE001
                results.append((w, error))
        return results


def summarize_chunk(
    session_factory: SessionFactory,
    settings: Settings,
    job_ids: Sequence[int],
    load_summarizer: SummarizerLoader,
    worker_host: str,
) -> ChunkOutcome:
    """Summarize a chunk of jobs; summaries and job states are written in one transaction.

    Idempotent under redelivery: jobs already final are skipped, and a job never gets a second summary (the
    succeeded transition is conditional and summaries.job_id is unique). The model is loaded only if there is work.

    A chunk with jobs already running was delivered before and its worker died (or another delivery is running it):
    it is then run one document at a time, each committed, so that a document that kills its worker uses up only its
    own deliveries (max_deliveries) and the others of the chunk still get summarized.
    """
    with session_factory() as session:
        started_before = session.scalar(
            select(func.count()).select_from(Job).where(Job.id.in_(list(job_ids)), Job.status == JobStatus.running)
        )
    if not started_before:
        return _summarize_jobs(session_factory, settings, job_ids, load_summarizer, worker_host)
    log.warning("%s was delivered before and did not finish: one document at a time", describe_chunk(job_ids))
    outcome = ChunkOutcome(one_by_one=True)
    for job_id in job_ids:
        outcome.merge(_summarize_jobs(session_factory, settings, [job_id], load_summarizer, worker_host))
    return outcome


def _summarize_jobs(
    session_factory: SessionFactory,
    settings: Settings,
    job_ids: Sequence[int],
    load_summarizer: SummarizerLoader,
    worker_host: str,
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    work = _start_chunk(session_factory, settings, job_ids, worker_host, outcome)
    if not work:
        return outcome

    results: list[tuple[_Work, Any]] = []
    groups: dict[tuple[str | None, str], list[_Work]] = {}
    for w in work:
        reason = no_summary_reason(w.stored, w.info)
        if reason is not None:
            results.append((w, ValueError(reason)))
        elif not w.sentences:  # no candidate: the longest lines stand in (see worker.summary_sentences)
            results.append((w, to_stored(w.stored, w.info, [], [], [], w.params["k"])))
        else:
            groups.setdefault((w.model_path, params_key(w.params)), []).append(w)
    model_ids: dict[str | None, str] = {}
    for (path, _key), group in groups.items():
        try:
            summarizer = load_summarizer(settings, path)
            model_ids[path] = summarizer.model_id
        except Exception as error:  # noqa: BLE001 - e.g. the batch's model directory is missing on this worker
            log.error("cannot load model %s: %s", path, error)
            results.extend((w, RuntimeError(f"model {path or '(default)'} could not be loaded: {error}")) for w in group)
            continue
        results.extend(_summarize_group(summarizer, group))

    try:
        outcome.merge(_store_results(session_factory, results, model_ids))
    except IntegrityError:
        # Another delivery stored a summary for one of these jobs between our checks (a concurrent redelivery):
        # store again; the jobs that delivery finished are now skipped by the conditional transition.
        log.warning("summary conflict on %s; storing again without the jobs another delivery finished", describe_chunk(job_ids))
        outcome.merge(_store_results(session_factory, results, model_ids))
    return outcome


def _store_results(
    session_factory: SessionFactory, results: list[tuple[_Work, Any]], model_ids: dict[str | None, str]
) -> ChunkOutcome:
    """One transaction: summaries plus job transitions. Returns what it stored (nothing, if it raised)."""
    outcome = ChunkOutcome()
    with session_scope(session_factory) as session:
        for w, result in results:
            job = w.job
            try:
                if isinstance(result, BaseException):
                    db_status.mark_job_failed(session, job, f"summarize failed: {type(result).__name__}: {result}")
                    outcome.failed.append(job.id)
                    continue
                # Transition first: if the job was cancelled, or finished by another delivery, no summary is written.
                db_status.mark_job_succeeded(session, job)
            except db_status.IllegalTransition as skip:
                log.info("job %s not stored: %s", job.id, skip)
                outcome.skipped.append(job.id)
                continue
            model_id = model_ids.get(w.model_path, job.model_id)  # no model loaded when no sentence was offered
            if job.model_id != model_id:
                log.warning("job %s asked for %s; the model loaded is %s", job.id, job.model_id, model_id)
            if not isinstance(result, StoredPick):  # the model's pick over the offered sentences -> stored indices
                result = to_stored(w.stored, w.info, w.offered, result.indices, result.scores, w.params["k"])
            session.add(
                Summary(
                    job_id=job.id,
                    document_id=job.document_id,
                    model_id=model_id,
                    params_key=job.params_key,
                    sentence_indices=list(result.indices),
                    scores=[float(s) for s in result.scores],
                    text=result.text,
                    note=result.note,
                )
            )
            outcome.succeeded.append(job.id)
        session.flush()  # a duplicate summary raises IntegrityError here, inside the transaction
    return outcome


def fail_running_jobs(session_factory: SessionFactory, job_ids: Sequence[int], reason: str) -> list[int]:
    """After an unexpected error in a chunk: its jobs still running fail with the reason instead of staying running
    (the task is acknowledged as failed and will not come back). Returns the ids failed."""
    failed: list[int] = []
    with session_scope(session_factory) as session:
        for job in session.scalars(select(Job).where(Job.id.in_(list(job_ids)), Job.status == JobStatus.running)):
            try:
                db_status.mark_job_failed(session, job, reason)
            except db_status.IllegalTransition:
                continue
            failed.append(job.id)
    return failed


# --- nightly ---------------------------------------------------------------------------------------------------


@dataclass
class NightlyOutcome:
    batch_id: int
    files: int
    ingested: int
    duplicates: int
    failed: int
    to_summarize: list[int]


def nightly_batch_name(now: datetime | None = None) -> str:
    return f"nightly {(now or datetime.now(UTC)).strftime('%Y-%m-%d')}"


def plan_nightly(
    session_factory: SessionFactory, settings: Settings, roots: Sequence[str], model: ModelRef, params: dict[str, Any]
) -> NightlyOutcome:
    """Ingest the archive roots (unchanged files are content-hash duplicates: no-ops), then create queued jobs for
    every extracted document without a summary (or pending job) for this model and params, in a batch named
    'nightly YYYY-MM-DD'. Returns the jobs to enqueue; with none, the batch is finished at once."""
    from docsum.ingest.pipeline import ingest_paths

    with session_scope(session_factory) as session:
        batch_id = create_batch(session, nightly_batch_name(), model, params, roots=list(roots)).id
    report = ingest_paths(session_factory, [str(r) for r in roots], settings)
    counts = {"ingested": 0, "duplicate": 0, "failed": 0}
    for item in report.items:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    with session_scope(session_factory) as session:
        batch = session.get(Batch, batch_id, with_for_update=True)
        batch.files_total = batch.files_done = len(report.items)
        todo = unsummarized(session, model.model_id, params_key(params))
        queued = add_jobs(session, batch, todo)
    if not queued:
        maybe_finish_batch(session_factory, batch_id)
    return NightlyOutcome(
        batch_id=batch_id,
        files=len(report.items),
        ingested=counts["ingested"],
        duplicates=counts["duplicate"],
        failed=counts["failed"],
        to_summarize=queued,
    )


# --- client-side operations ------------------------------------------------------------------------------------


def cancel_batch(session_factory: SessionFactory, batch_id: int) -> int:
    """Cancel a running batch: its queued and running jobs become cancelled (workers skip them); returns how many."""
    with session_scope(session_factory) as session:
        batch = _get_batch(session, batch_id)
        return db_status.cancel_batch(session, batch)


def retry_failed(session_factory: SessionFactory, batch_id: int) -> list[int]:
    """Failed jobs of a batch back to queued (attempts reset; a finished batch reopens); returns their ids, to
    enqueue after this commit. Jobs whose document cannot be summarized fail again at once, with its reason."""
    with session_scope(session_factory) as session:
        batch = _get_batch(session, batch_id, for_update=True)
        if batch.status == BatchStatus.cancelled:
            raise db_status.IllegalTransition(f"batch {batch_id} is cancelled; submit its documents in a new batch")
        failed = list(session.scalars(select(Job).where(Job.batch_id == batch_id, Job.status == JobStatus.failed).order_by(Job.id)))
        documents = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_([j.document_id for j in failed])))}
        if failed and batch.status == BatchStatus.finished:
            db_status.reopen_batch(session, batch)
        requeued = []
        for job in failed:
            db_status.requeue_job(session, job)
            reason = unsummarizable_reason(documents[job.document_id])
            if reason is not None:  # the document still cannot be summarized: fail it again at once, with its reason
                db_status.fail_queued_job_for_document(session, job, reason)
            else:
                requeued.append(job.id)
        return requeued


def _get_batch(session: Session, batch_id: int, for_update: bool = False) -> Batch:
    batch = session.get(Batch, batch_id, with_for_update=for_update)
    if batch is None:
        raise LookupError(f"batch {batch_id} does not exist")
    return batch
