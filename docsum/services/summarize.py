"""The summarize step: a chunk of job ids in, summaries and job states out.

Idempotent under redelivery: jobs already final are skipped, and a job never gets a second summary (the succeeded
transition is conditional and summaries.job_id is unique). The chunk is started in one committed transaction (so a
worker killed mid-chunk leaves a visible delivery count) and stored in another, hence the session factory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from docsum.bertsum.preprocess import SentenceTokens
from docsum.db import status as db_status
from docsum.db.bulk import among, insert_summaries
from docsum.db.models import Batch, Document, Job, JobStatus, params_key
from docsum.db.session import session_scope
from docsum.errors import FailureClass
from docsum.services.batches import FINAL_STATES
from docsum.services.failures import gave_up
from docsum.services.summary_sentences import (
    StoredPick,
    document_skips,
    no_summary_reason,
    offered_indices,
    to_stored,
)

if TYPE_CHECKING:
    from docsum.bertsum import ExtSummarizer

log = logging.getLogger(__name__)

# Model directory (None: the default) -> the loaded summarizer; called only when a chunk has work.
SummarizerLoader = Callable[["str | None"], "ExtSummarizer"]

T = TypeVar("T")

STAGES = ("fetch", "prepare", "score", "write")


class NoSummary(Exception):
    """The document has no sentence a summary could be made of; the message is the job's reason, as it is."""


def describe_chunk(job_ids: Sequence[int], batch_id: int | None = None) -> str:
    """How a chunk shows in logs and Flower, e.g. 'batch 7: jobs 1-64 (64 docs)'."""
    if not job_ids:
        return "no jobs"
    lo, hi = min(job_ids), max(job_ids)
    span = f"job {lo}" if lo == hi else f"jobs {lo}-{hi}"
    where = f"batch {batch_id}: " if batch_id is not None else ""
    return f"{where}{span} ({len(job_ids)} doc{'s' if len(job_ids) != 1 else ''})"


@dataclass
class ChunkOutcome:
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(
        default_factory=list
    )  # already final (redelivery), cancelled, or taken by another delivery
    batch_ids: set[int] = field(default_factory=set)
    failures: dict[int, FailureClass] = field(default_factory=dict)  # failed job id -> its class (metrics count it)
    one_by_one: bool = False  # a redelivered chunk: documents run and commit one at a time
    # Seconds per stage: fetch (start the jobs, read their documents), prepare (tokenize, pack), score (the model),
    # write (summaries and job states).
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def merge(self, other: ChunkOutcome) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.failures.update(other.failures)
        self.skipped += other.skipped
        self.batch_ids |= other.batch_ids
        for stage, seconds in other.timings.items():
            self.timings[stage] += seconds

    def describe_timings(self) -> str:
        return " · ".join(f"{stage} {1000 * self.timings[stage]:.1f} ms" for stage in STAGES)


@dataclass(frozen=True)
class _JobRef:
    """What storing a result needs of a job, read as plain columns (ORM objects cost more than the work here)."""

    id: int
    document_id: int
    model_id: str
    params_key: str


@dataclass
class _Work:
    job: _JobRef
    sentences: list[str]  # what the model is offered: the document's candidate sentences
    model_path: str | None
    params: dict[str, Any]
    tokens: SentenceTokens | None = None  # the offered sentences' tokens from ingest; the engine checks the fingerprint
    stored: list[str] = field(default_factory=list)  # all stored sentences of the document
    info: list[dict[str, Any]] | None = None  # documents.sentence_info, read only when skips were not stored apart
    offered: list[int] = field(default_factory=list)  # stored index of each offered sentence
    skips: list[str | None] | None = None  # per stored sentence, why it is not offered (None: it is)
    chars: int = 0  # characters of the offered sentences (sizes slices)


def _start_chunk(
    sessions: sessionmaker[Session],
    max_deliveries: int,
    job_ids: Sequence[int],
    worker_host: str,
    outcome: ChunkOutcome,
    refuse_redelivered: bool = False,
) -> list[_Work] | None:
    """Mark the chunk's jobs running (attempts + 1) in a committed transaction, so a worker killed mid-chunk leaves a
    visible delivery count; jobs past the delivery cap fail instead of running again. With `refuse_redelivered`,
    a chunk with a job already running changes nothing and gives None (see summarize_chunk)."""
    with session_scope(sessions) as session:
        # Plain columns: this runs for every chunk, and ORM objects for hundreds of jobs cost more than the update.
        states = {
            row.id: row
            for row in session.execute(
                select(Job.id, Job.status, Job.attempts, Job.batch_id).where(among(session, Job.id, job_ids))
            )
        }
        if refuse_redelivered and any(row.status == JobStatus.running for row in states.values()):
            return None
        outcome.skipped.extend(i for i in job_ids if i not in states)
        runnable: list[int] = []
        for job_id in job_ids:
            state = states.get(job_id)
            if state is None:
                continue
            outcome.batch_ids.add(state.batch_id)
            if state.status in FINAL_STATES:
                outcome.skipped.append(job_id)
            elif state.attempts >= max_deliveries:
                reason = gave_up(state.attempts)
                job = session.get(Job, job_id)
                if job.status == JobStatus.running:
                    db_status.mark_job_failed(session, job, reason, FailureClass.poison)
                else:
                    db_status.fail_queued_job_for_document(session, job, reason, FailureClass.poison)
                outcome.failed.append(job_id)
                outcome.failures[job_id] = FailureClass.poison
                log.error("job %s: %s", job_id, reason)
            else:
                runnable.append(job_id)
        started = set(db_status.mark_jobs_running(session, runnable, worker_host))
        outcome.skipped.extend(i for i in runnable if i not in started)
        if not started:
            return []
        # Through the connection: a Core result, without the ORM's per-row loading (this reads every document).
        rows = session.connection().execute(
            select(
                Job.id,
                Job.document_id,
                Job.model_id,
                Job.params_key,
                Job.params,
                Document.sentences,
                Document.sentence_skips,
                # The records only where the verdicts were not stored apart (documents from before they were).
                case((Document.sentence_skips.is_(None), Document.sentence_info)).label("sentence_info"),
                Document.token_key,
                Document.token_ids,
                Batch.params,
            )
            .join(Document, Document.id == Job.document_id)
            .join(Batch, Batch.id == Job.batch_id)
            .where(among(session, Job.id, list(started)))
            .order_by(Job.id)
        )
        work = []
        for (
            job_id,
            document_id,
            model_id,
            key,
            params,
            sentences,
            stored_skips,
            info,
            token_key,
            token_ids,
            batch_params,
        ) in rows:
            stored = list(sentences or [])
            skips = document_skips(stored, info, stored_skips)
            offered = offered_indices(stored, info, skips)
            candidates = [stored[i] for i in offered]
            work.append(
                _Work(
                    job=_JobRef(job_id, document_id, model_id, key),
                    sentences=candidates,
                    model_path=batch_params.get("model"),
                    params=params,
                    tokens=_offered_tokens(token_key, token_ids, offered, len(stored)),
                    stored=stored,
                    info=info,
                    offered=offered,
                    skips=skips,
                    chars=document_chars(candidates),
                )
            )
        return work


def _offered_tokens(
    fingerprint: str | None, stored: bytes | None, offered: list[int], n_stored: int
) -> SentenceTokens | None:
    """The tokens of the offered sentences, from the tokens ingest stored for all of them (None if it stored none,
    or if what it stored cannot be read or is not this document's: the engine then tokenizes the document itself)."""
    if not fingerprint or not stored:
        return None
    try:
        if SentenceTokens.count(stored) != n_stored:
            return None
        return SentenceTokens.from_bytes(fingerprint, bytes(stored), only=offered)
    except ValueError as error:
        log.warning("stored tokens unreadable (%s); tokenizing the document again", error)
        return None


def _summarize_group(summarizer: ExtSummarizer, work: list[_Work]) -> list[tuple[_Work, Any]]:
    """Run the engine over the whole group; if it raises, isolate the bad documents one by one."""
    p = work[0].params
    kwargs = {"k": p["k"], "block_trigrams": p["block_trigrams"], "max_words": p["max_words"]}
    try:
        summaries = summarizer.summarize([w.sentences for w in work], tokens=[w.tokens for w in work], **kwargs)
        return list(zip(work, summaries, strict=True))
    except Exception as whole:  # noqa: BLE001 - a model error on one document must not fail the others
        if len(work) == 1:
            return [(work[0], whole)]
        log.warning("chunk of %d failed (%s); summarizing its documents one by one", len(work), whole)
        results: list[tuple[_Work, Any]] = []
        for w in work:
            try:
                results.append((w, summarizer.summarize([w.sentences], tokens=[w.tokens], **kwargs)[0]))
            except Exception as error:  # noqa: BLE001 - kept as this document's failure reason
                results.append((w, error))
        return results


def summarize_chunk(
    sessions: sessionmaker[Session],
    max_deliveries: int,
    job_ids: Sequence[int],
    load_summarizer: SummarizerLoader,
    worker_host: str,
    store_every: int | None = None,
    store_tokens: int | None = None,
    store_interval: float = 0.0,
) -> ChunkOutcome:
    """Summarize a chunk of jobs; the engine runs over slices of `store_every` documents, or of about `store_tokens`
    tokens of documents (see `slices`); neither: the whole chunk at once. Summaries and job states are written in one
    transaction per slice, or, with `store_interval`, of all the slices done when that many seconds have passed
    since the last write (and at the end): progress still moves while a slow device works through a chunk, and a
    fast one is not held up by a commit per slice.

    Idempotent under redelivery: jobs already final are skipped, and a job never gets a second summary (the
    succeeded transition is conditional and summaries.job_id is unique). The model is loaded only if there is work.

    A chunk with jobs already running was delivered before and its worker died (or another delivery is running it):
    it is then run one document at a time, each committed, so that a document that kills its worker uses up only its
    own deliveries (max_deliveries) and the others of the chunk still get summarized.
    """
    outcome = _summarize_jobs(
        sessions,
        max_deliveries,
        job_ids,
        load_summarizer,
        worker_host,
        store_every,
        store_tokens,
        store_interval,
        refuse_redelivered=True,
    )
    if outcome is not None:
        return outcome
    log.warning("%s was delivered before and did not finish: one document at a time", describe_chunk(job_ids))
    outcome = ChunkOutcome(one_by_one=True)
    for job_id in job_ids:
        outcome.merge(_summarize_jobs(sessions, max_deliveries, [job_id], load_summarizer, worker_host))
    return outcome


def _summarize_jobs(
    sessions: sessionmaker[Session],
    max_deliveries: int,
    job_ids: Sequence[int],
    load_summarizer: SummarizerLoader,
    worker_host: str,
    store_every: int | None = None,
    store_tokens: int | None = None,
    store_interval: float = 0.0,
    refuse_redelivered: bool = False,
) -> ChunkOutcome | None:
    outcome = ChunkOutcome()
    began = time.perf_counter()
    work = _start_chunk(sessions, max_deliveries, job_ids, worker_host, outcome, refuse_redelivered)
    outcome.timings["fetch"] = time.perf_counter() - began
    if work is None:
        return None
    if not work:
        return outcome

    empty: list[tuple[_Work, Any]] = []
    groups: dict[tuple[str | None, str], list[_Work]] = {}
    for w in work:
        reason = no_summary_reason(w.stored, w.info, w.skips)
        if reason is not None:
            empty.append((w, NoSummary(reason)))
        elif not w.sentences:  # no candidate: the longest lines stand in (see services.summary_sentences)
            empty.append((w, to_stored(w.stored, w.info, [], [], [], w.params["k"], w.skips)))
        else:
            groups.setdefault((w.model_path, params_key(w.params)), []).append(w)
    model_ids: dict[str | None, str] = {}
    if empty:
        _store(sessions, empty, model_ids, job_ids, outcome)
    for (path, _key), group in groups.items():
        try:
            summarizer = load_summarizer(path)
            model_ids[path] = summarizer.model_id
        except Exception as error:  # noqa: BLE001 - e.g. the batch's model directory is missing on this worker
            log.error("cannot load model %s: %s", path, error)
            failed = [(w, RuntimeError(f"model {path or '(default)'} could not be loaded: {error}")) for w in group]
            _store(sessions, failed, model_ids, job_ids, outcome)
            continue
        # Run in slices and stored as they finish (see store_interval), so that progress (and a reader of the
        # batch) sees documents finish a few at a time rather than a whole chunk at once.
        pending: list[tuple[_Work, Any]] = []
        stored_at = time.monotonic()
        for part in slices(group, store_every, store_tokens, lambda w: w.chars):
            began, prepared = time.perf_counter(), _prepare_seconds(summarizer)
            pending += _summarize_group(summarizer, part)
            outcome.timings["prepare"] += _prepare_seconds(summarizer) - prepared
            outcome.timings["score"] += time.perf_counter() - began - (_prepare_seconds(summarizer) - prepared)
            if time.monotonic() - stored_at >= store_interval:
                _store(sessions, pending, model_ids, job_ids, outcome)
                pending, stored_at = [], time.monotonic()
        if pending:
            _store(sessions, pending, model_ids, job_ids, outcome)
    return outcome


# Characters per wordpiece token, roughly, in English news text: enough to size a slice, not to count.
CHARS_PER_TOKEN = 4


def document_chars(sentences: Sequence[str]) -> int:
    return sum(len(s) for s in sentences)


def slices(items: Sequence[T], every: int | None, tokens: int | None, chars: Callable[[T], int]) -> list[list[T]]:
    """Items (documents, sized by `chars`) cut into slices stored one after another: `every` documents each, else
    about `tokens` estimated tokens each (so that each engine call still fills its encoder batches), else one slice.
    Slices hold documents of similar length, shortest first, as the engine itself sorts a chunk, which keeps each
    call's padding low."""
    if not every and not tokens:
        return [list(items)]
    ordered = sorted(items, key=chars)
    if every:
        return [ordered[i : i + every] for i in range(0, len(ordered), every)]
    out: list[list[T]] = [[]]
    size = 0
    for item in ordered:
        estimate = chars(item) // CHARS_PER_TOKEN + 1
        if out[-1] and size + estimate > tokens:  # type: ignore[operator]
            out.append([])
            size = 0
        out[-1].append(item)
        size += estimate
    return out


def _store(
    sessions: sessionmaker[Session],
    results: list[tuple[_Work, Any]],
    model_ids: dict[str | None, str],
    job_ids: Sequence[int],
    outcome: ChunkOutcome,
) -> None:
    began = time.perf_counter()
    try:
        outcome.merge(_store_results(sessions, results, model_ids))
    except IntegrityError:
        # Another delivery stored a summary for one of these jobs between our checks (a concurrent redelivery):
        # store again; the jobs that delivery finished are now skipped by the conditional transition.
        log.warning(
            "summary conflict on %s; storing again without the jobs another delivery finished", describe_chunk(job_ids)
        )
        outcome.merge(_store_results(sessions, results, model_ids))
    outcome.timings["write"] += time.perf_counter() - began


def _prepare_seconds(summarizer: ExtSummarizer) -> float:
    return summarizer.engine.stats.prepare_s


def _store_results(
    sessions: sessionmaker[Session], results: list[tuple[_Work, Any]], model_ids: dict[str | None, str]
) -> ChunkOutcome:
    """One transaction, a few statements whatever the chunk's size: failures (one UPDATE each; rare), every success
    in one conditional UPDATE, their summaries in one INSERT. Returns what it stored (nothing, if it raised)."""
    outcome = ChunkOutcome()
    with session_scope(sessions) as session:
        done: list[tuple[_Work, Any]] = []
        for w, result in results:
            if not isinstance(result, BaseException):
                done.append((w, result))
                continue
            if isinstance(result, NoSummary):
                reason, failure = str(result), FailureClass.no_text
            else:  # the model could not be loaded, or raised on this document
                reason, failure = f"summarize failed: {type(result).__name__}: {result}", FailureClass.model
            try:
                job = session.get(Job, w.job.id)
                db_status.mark_job_failed(session, job, reason, failure)
            except db_status.IllegalTransition as skip:
                log.info("job %s not stored: %s", w.job.id, skip)
                outcome.skipped.append(w.job.id)
                continue
            outcome.failed.append(w.job.id)
            outcome.failures[w.job.id] = failure
        # Transition first: a job cancelled, or finished by another delivery, is not returned and gets no summary.
        stored = set(db_status.mark_jobs_succeeded(session, [w.job.id for w, _ in done]))
        rows = []
        for w, result in done:
            job = w.job
            if job.id not in stored:
                log.info("job %s not stored: no longer running", job.id)
                outcome.skipped.append(job.id)
                continue
            model_id = model_ids.get(w.model_path, job.model_id)  # no model loaded when no sentence was offered
            if job.model_id != model_id:
                log.warning("job %s asked for %s; the model loaded is %s", job.id, job.model_id, model_id)
            if not isinstance(result, StoredPick):  # the model's pick over the offered sentences -> stored indices
                result = to_stored(w.stored, w.info, w.offered, result.indices, result.scores, w.params["k"], w.skips)
            rows.append(
                {
                    "job_id": job.id,
                    "document_id": job.document_id,
                    "model_id": model_id,
                    "params_key": job.params_key,
                    "sentence_indices": list(result.indices),
                    "scores": [float(score) for score in result.scores],
                    "text": result.text,
                    "note": result.note,
                }
            )
            outcome.succeeded.append(job.id)
        if rows:  # a duplicate summary raises IntegrityError here, inside the transaction
            insert_summaries(session, rows)
    return outcome


def fail_running_jobs(
    sessions: sessionmaker[Session], job_ids: Sequence[int], reason: str, failure: FailureClass
) -> list[int]:
    """After an unexpected error in a chunk: its jobs still running fail with the reason instead of staying running
    (the task is acknowledged as failed and will not come back). Returns the ids failed."""
    failed: list[int] = []
    with session_scope(sessions) as session:
        for job in session.scalars(select(Job).where(Job.id.in_(list(job_ids)), Job.status == JobStatus.running)):
            try:
                db_status.mark_job_failed(session, job, reason, failure)
            except db_status.IllegalTransition:
                continue
            failed.append(job.id)
    return failed
