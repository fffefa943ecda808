"""The only code that writes status columns (contract: docs/ARCHITECTURE.md, "Status transitions").

Every legal move is in a transition table; anything else raises `IllegalTransition`. Functions take a `Session`,
change rows and timestamps, and leave the commit to the caller (so a summary and its job's status commit together).

Job and batch transitions are a conditional `UPDATE ... WHERE status IN (<legal sources>)`, so the check and the write
are one statement: when a task is delivered twice and two workers race, exactly one wins and the other gets
`IllegalTransition` (PostgreSQL re-checks the WHERE after the winner commits; SQLite has a single writer). The new
values are copied onto the Python objects, whether in the session or detached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, inspect, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from docsum.db.bulk import among
from docsum.db.models import (
    JOB_IS_OPEN,
    Base,
    Batch,
    BatchStatus,
    Document,
    DocumentStatus,
    Job,
    JobStatus,
    utcnow,
)
from docsum.errors import FailureClass


class IllegalTransition(Exception):
    """A status change the transition table does not allow (e.g. a succeeded job asked to run again)."""


S = TypeVar("S", JobStatus, BatchStatus, DocumentStatus)

# from-status -> the statuses it may move to. `None` is "a new row" (documents are created as extracted or failed).
JOB_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.running, JobStatus.failed, JobStatus.cancelled}),
    # running -> running: redelivery after a lost worker (attempts + 1).
    JobStatus.running: frozenset({JobStatus.running, JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}),
    JobStatus.succeeded: frozenset(),  # final
    JobStatus.failed: frozenset({JobStatus.queued}),  # retry
    JobStatus.cancelled: frozenset({JobStatus.queued}),  # retry
}
BATCH_TRANSITIONS: Mapping[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.running: frozenset({BatchStatus.finished, BatchStatus.cancelled}),
    BatchStatus.finished: frozenset({BatchStatus.running}),  # reopened to retry its failed jobs
    BatchStatus.cancelled: frozenset(),
}
DOCUMENT_TRANSITIONS: Mapping[DocumentStatus | None, frozenset[DocumentStatus]] = {
    None: frozenset({DocumentStatus.extracted, DocumentStatus.failed}),
    DocumentStatus.failed: frozenset({DocumentStatus.extracted}),  # the same bytes extract later (new extractor)
    DocumentStatus.extracted: frozenset(),
}


def allowed_sources(table: Mapping[Any, frozenset[S]], target: S) -> list[Any]:
    """The statuses from which `target` may be reached."""
    return [source for source, targets in table.items() if target in targets and source is not None]


def _illegal(
    kind: str, row_id: int | None, current: object, target: object, table: Mapping[Any, frozenset[Any]]
) -> IllegalTransition:
    nexts = sorted(str(s) for s in table.get(current, frozenset()))
    allowed = ", ".join(nexts) if nexts else f"nothing ({current} is final)"
    return IllegalTransition(
        f"{kind} {row_id}: cannot go from {current} to {target}; from {current} it may go to {allowed}"
    )


def _copy_values(obj: Base, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        set_committed_value(obj, key, value)


def _in_session(session: Session, model: type[Base], row_id: int) -> Base | None:
    return session.identity_map.get(inspect(model).identity_key_from_primary_key((row_id,)))


def _conditional_update(
    session: Session,
    model: type[Job] | type[Batch],
    where: Sequence[ColumnElement[bool]],
    sources: Sequence[Any],
    values: dict[str, Any],
    values_back: bool = True,
) -> list[dict[str, Any]]:
    """UPDATE rows matching `where` whose status is one of `sources`; returns the new values of the rows changed (only
    their ids without `values_back`) and copies them onto any of those objects the session holds."""
    cols = ["id", *values.keys()] if values_back else ["id"]
    stmt = (
        update(model)
        .where(*where, model.status.in_(sources))
        .values(**values)
        .returning(*(getattr(model, c) for c in cols))
        .execution_options(synchronize_session=False)
    )
    rows = [dict(r._mapping) for r in session.execute(stmt)]
    for row in rows:
        obj = _in_session(session, model, row["id"])
        if obj is not None:
            _copy_values(obj, {k: v for k, v in row.items() if k != "id"})
    return rows


def _holds(session: Session, model: type[Base]) -> bool:
    """Whether the session holds objects of this model: a bulk update then reads back its new values for them. A
    worker's bulk updates hold none, and reading back every row's timestamps costs more than the update."""
    return any(isinstance(obj, model) for obj in session.identity_map.values())


def _ensure_id(session: Session, obj: Job | Batch) -> int:
    if obj.id is None:
        session.add(obj)
        session.flush()  # a new row needs its id before an UPDATE can name it
    return obj.id


def _kind(model: type[Base]) -> str:
    return {Job: "job", Batch: "batch", Document: "document"}[model]


def _bump_markers(session: Session, batch_ids: Iterable[int]) -> None:
    """Take the next change marker of each batch, under its row lock, before any job of it is made final: the lock is
    held to the commit, so markers are taken in commit order (Batch.final_seq). Batches in id order, and always
    before their jobs (as cancel_batch locks them), so that two transactions never wait for each other's locks."""
    for batch_id in sorted(set(batch_ids)):
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(final_seq=Batch.final_seq + 1)
            .execution_options(synchronize_session=False)
        )


# A job made final takes the marker its transaction took for its batch (after _bump_markers).
_BATCH_MARKER = select(Batch.final_seq).where(Batch.id == Job.batch_id).scalar_subquery()


def _batch_of(session: Session, job: Job) -> int:
    if job.batch_id is None:
        _ensure_id(session, job)
    return job.batch_id


def _transition_one(
    session: Session,
    obj: Job | Batch,
    target: JobStatus | BatchStatus,
    values: dict[str, Any],
    sources: list[Any] | None = None,
) -> None:
    """One conditional UPDATE from the legal sources of `target` (or a narrower `sources`) to `target`."""
    model = type(obj)
    table: Mapping[Any, frozenset[Any]] = JOB_TRANSITIONS if model is Job else BATCH_TRANSITIONS
    row_id = _ensure_id(session, obj)
    sources = allowed_sources(table, target) if sources is None else sources
    rows = _conditional_update(session, model, [model.id == row_id], sources, {"status": target, **values})
    if not rows:
        current = session.scalar(select(model.status).where(model.id == row_id))
        if current is None:
            raise LookupError(f"{_kind(model)} {row_id} does not exist")
        if current not in sources and target in table.get(current, frozenset()):
            wanted = " or ".join(str(source) for source in sources)
            raise IllegalTransition(f"{_kind(model)} {row_id}: is {current}, not {wanted}, for this move to {target}")
        raise _illegal(_kind(model), row_id, current, target, table)
    # The object may be detached (expire_on_commit=False sessions hand them around): update it directly too.
    _copy_values(obj, {k: v for k, v in rows[0].items() if k != "id"})


# --- jobs --------------------------------------------------------------------------------------------------------


def mark_job_running(session: Session, job: Job, worker_host: str) -> Job:
    """queued -> running, or running -> running on redelivery after a lost worker. attempts + 1, started_at = now."""
    now = utcnow()
    values = {
        "attempts": Job.attempts + 1,
        "worker_host": worker_host,
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
    }
    _transition_one(session, job, JobStatus.running, values)
    return job


def mark_jobs_running(session: Session, job_ids: Iterable[int], worker_host: str) -> list[int]:
    """Start a chunk: every listed job that is queued or running moves to running (attempts + 1); returns their ids.

    Jobs already succeeded, failed or cancelled (a redelivered task, a cancelled batch) are left alone and not
    returned, so the caller summarizes exactly the returned ids.
    """
    ids = list(job_ids)
    if not ids:
        return []
    now = utcnow()
    values = {
        "status": JobStatus.running,
        "attempts": Job.attempts + 1,
        "worker_host": worker_host,
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
    }
    rows = _conditional_update(
        session,
        Job,
        [among(session, Job.id, ids)],
        allowed_sources(JOB_TRANSITIONS, JobStatus.running),
        values,
        _holds(session, Job),
    )
    started = {row["id"] for row in rows}
    return [i for i in ids if i in started]


def mark_job_succeeded(session: Session, job: Job) -> Job:
    """running -> succeeded (final). Store the summary in the same transaction."""
    now = utcnow()
    values = {"error": None, "failure_class": None, "final_seq": _BATCH_MARKER, "finished_at": now, "updated_at": now}
    _bump_markers(session, [_batch_of(session, job)])
    _transition_one(session, job, JobStatus.succeeded, values)
    return job


def mark_jobs_succeeded(session: Session, job_ids: Iterable[int]) -> list[int]:
    """A chunk's results in one statement: every listed job still running moves to succeeded; returns their ids.
    Jobs cancelled or finished by another delivery meanwhile are left alone, and must get no summary."""
    ids = list(job_ids)
    if not ids:
        return []
    now = utcnow()
    values = {
        "status": JobStatus.succeeded,
        "error": None,
        "failure_class": None,
        "final_seq": _BATCH_MARKER,
        "finished_at": now,
        "updated_at": now,
    }
    _bump_markers(session, session.scalars(select(Job.batch_id).where(among(session, Job.id, ids)).distinct()))
    rows = _conditional_update(
        session, Job, [among(session, Job.id, ids)], [JobStatus.running], values, _holds(session, Job)
    )
    done = {row["id"] for row in rows}
    return [i for i in ids if i in done]


def _failed(error: str, failure: FailureClass) -> dict[str, object]:
    if not error:
        raise ValueError("a failed job needs a readable error")
    now = utcnow()
    return {
        "error": error,
        "failure_class": FailureClass(failure).value,
        "final_seq": _BATCH_MARKER,
        "finished_at": now,
        "updated_at": now,
    }


def mark_job_failed(session: Session, job: Job, error: str, failure: FailureClass) -> Job:
    """running -> failed with a readable reason and its class."""
    values = _failed(error, failure)
    _bump_markers(session, [_batch_of(session, job)])
    _transition_one(session, job, JobStatus.failed, values)
    return job


def fail_queued_job_for_document(session: Session, job: Job, error: str, failure: FailureClass) -> Job:
    """queued -> failed: the job's document cannot be summarized (it failed extraction, or it has no sentences).
    The same target as mark_job_failed, but only from queued: a running job fails through mark_job_failed."""
    values = _failed(error, failure)
    _bump_markers(session, [_batch_of(session, job)])
    _transition_one(session, job, JobStatus.failed, values, sources=[JobStatus.queued])
    return job


def cancel_job(session: Session, job: Job) -> Job:
    """queued -> cancelled, or running -> cancelled (a worker finishing it later then gets IllegalTransition)."""
    now = utcnow()
    _bump_markers(session, [_batch_of(session, job)])
    values = {"final_seq": _BATCH_MARKER, "finished_at": now, "updated_at": now}
    _transition_one(session, job, JobStatus.cancelled, values)
    return job


def requeue_job(session: Session, job: Job) -> Job:
    """failed -> queued or cancelled -> queued (retry). Clears the previous run; attempts restart at 0, so the
    poison-message cap counts deliveries of this enqueue only."""
    now = utcnow()
    values = {
        "attempts": 0,
        "error": None,
        "failure_class": None,
        "worker_host": None,
        "final_seq": None,
        "enqueued_at": now,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
    }
    _transition_one(session, job, JobStatus.queued, values)
    return job


# --- batches -----------------------------------------------------------------------------------------------------


def batch_counts(session: Session, batch_id: int) -> dict[str, int]:
    """Live job counts of a batch, one key per JobStatus value (zeros included)."""
    counts = {s.value: 0 for s in JobStatus}
    rows = session.execute(select(Job.status, func.count()).where(Job.batch_id == batch_id).group_by(Job.status))
    for status, n in rows:
        counts[JobStatus(status).value] = n
    return counts


def failure_counts(session: Session, batch_id: int) -> dict[str, int]:
    """Failed jobs of a batch by class (a FailureClass value; "other" for a job failed without one), largest first."""
    rows = session.execute(
        select(Job.failure_class, func.count())
        .where(Job.batch_id == batch_id, Job.status == JobStatus.failed)
        .group_by(Job.failure_class)
    )
    counts: dict[str, int] = {}
    for failure, n in rows:
        name = FailureClass.of_failed(failure).value
        counts[name] = counts.get(name, 0) + n
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def has_open_jobs(session: Session, batch_id: int) -> bool:
    """Whether any job of the batch is queued or running (answered from the partial index ix_jobs_open_batch_id, so
    its cost does not grow with the batch)."""
    open_job = select(Job.id).where(Job.batch_id == batch_id, text(JOB_IS_OPEN))
    return bool(session.scalar(select(open_job.exists())))


def _snapshot(session: Session, batch_id: int) -> dict[str, int]:
    return {f"n_{status}": n for status, n in batch_counts(session, batch_id).items()}


def finish_batch(session: Session, batch: Batch) -> Batch:
    """running -> finished: writes the n_* snapshot of job counts and finished_at."""
    batch_id = _ensure_id(session, batch)
    _transition_one(session, batch, BatchStatus.finished, {**_snapshot(session, batch_id), "finished_at": utcnow()})
    return batch


def reopen_batch(session: Session, batch: Batch) -> Batch:
    """finished -> running, to retry its failed jobs (Client.retry_failed); the next finish writes a new snapshot."""
    _transition_one(session, batch, BatchStatus.running, {"finished_at": None})
    return batch


def cancel_batch(session: Session, batch: Batch) -> int:
    """running -> cancelled: cancels the batch's queued and running jobs, writes the snapshot; returns how many jobs
    it cancelled."""
    batch_id = _ensure_id(session, batch)
    now = utcnow()
    # Batch first: a batch that already ended raises before any job is touched.
    _transition_one(session, batch, BatchStatus.cancelled, {"finished_at": now})
    _bump_markers(session, [batch_id])
    job_values = {"status": JobStatus.cancelled, "final_seq": _BATCH_MARKER, "finished_at": now, "updated_at": now}
    rows = _conditional_update(
        session, Job, [Job.batch_id == batch_id], allowed_sources(JOB_TRANSITIONS, JobStatus.cancelled), job_values
    )
    snapshot = _snapshot(session, batch_id)
    session.execute(
        update(Batch).where(Batch.id == batch_id).values(**snapshot).execution_options(synchronize_session=False)
    )
    _copy_values(batch, snapshot)
    return len(rows)


# --- documents ---------------------------------------------------------------------------------------------------


def _set_document_status(
    session: Session, document: Document, target: DocumentStatus, error: str | None, failure: FailureClass | None
) -> Document:
    current = document.status
    if target not in DOCUMENT_TRANSITIONS.get(current, frozenset()):
        raise _illegal("document", document.id, current if current is not None else "new", target, DOCUMENT_TRANSITIONS)
    document.status = target
    document.error = error
    document.failure_class = None if failure is None else FailureClass(failure).value
    document.updated_at = utcnow()
    session.add(document)
    return document


def set_document_extracted(session: Session, document: Document) -> Document:
    """A new document, or a failed one whose bytes now extract, becomes extracted (error cleared).

    Ingest fills text, sentences and metadata on the object first; an extracted document must have both.
    """
    if document.text is None or document.sentences is None:
        raise ValueError(f"document {document.source_uri!r}: an extracted document needs text and sentences (got None)")
    return _set_document_status(session, document, DocumentStatus.extracted, None, None)


def set_document_failed(session: Session, document: Document, error: str, failure: FailureClass) -> Document:
    """A new document that could not be extracted: stored as failed with a readable reason and its class."""
    if not error:
        raise ValueError(f"document {document.source_uri!r}: a failed document needs a readable error")
    return _set_document_status(session, document, DocumentStatus.failed, error, failure)


__all__ = [
    "BATCH_TRANSITIONS",
    "DOCUMENT_TRANSITIONS",
    "JOB_TRANSITIONS",
    "IllegalTransition",
    "allowed_sources",
    "batch_counts",
    "cancel_batch",
    "cancel_job",
    "fail_queued_job_for_document",
    "failure_counts",
    "finish_batch",
    "has_open_jobs",
    "mark_job_failed",
    "mark_job_running",
    "mark_job_succeeded",
    "mark_jobs_running",
    "reopen_batch",
    "requeue_job",
    "set_document_extracted",
    "set_document_failed",
]
