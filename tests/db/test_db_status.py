"""Status transitions (db.status) on SQLite and PostgreSQL: the legal ones, with their timestamps and attempts,
and every other one refused."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from docsum.db import status as st
from docsum.db.migrate import upgrade
from docsum.db.models import (
    JOB_IS_OPEN,
    Batch,
    BatchStatus,
    Document,
    DocumentStatus,
    Job,
    JobStatus,
    params_key,
    utcnow,
)
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.errors import FailureClass
from docsum.services import batches as bsvc

J = JobStatus
# The contract in docs/ARCHITECTURE.md, written out independently of db.status.
LEGAL_JOB_MOVES = {
    (J.queued, J.running),
    (J.running, J.running),
    (J.running, J.succeeded),
    (J.running, J.failed),
    (J.queued, J.failed),
    (J.queued, J.cancelled),
    (J.running, J.cancelled),
    (J.failed, J.queued),
    (J.cancelled, J.queued),
}


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(any_db_url)
    yield make_session_factory(any_db_url)
    dispose_engine(any_db_url)


_counter = iter(range(1_000_000))


def _new_job(session: Session, batch: Batch | None = None) -> Job:
    n = next(_counter)
    doc = Document(source_uri=f"doc{n}.txt", content_sha256=f"{n:064d}", text="One. Two.", sentences=["One.", "Two."])
    st.set_document_extracted(session, doc)
    batch = batch or Batch(name=f"b{n}")
    params = {"k": 3, "block_trigrams": True, "max_words": None}
    job = Job(batch=batch, document=doc, model_id="m@1", params=params, params_key=params_key(params))
    session.add(job)
    session.flush()
    return job


# How to reach each status legally from a new (queued) job, and the function that moves a job to each status.
PATH_TO: dict[JobStatus, list[Callable[[Session, Job], object]]] = {
    J.queued: [],
    J.running: [lambda s, j: st.mark_job_running(s, j, "h")],
    J.succeeded: [lambda s, j: st.mark_job_running(s, j, "h"), st.mark_job_succeeded],
    J.failed: [
        lambda s, j: st.mark_job_running(s, j, "h"),
        lambda s, j: st.mark_job_failed(s, j, "boom", FailureClass.model),
    ],
    J.cancelled: [st.cancel_job],
}
MOVE_TO: dict[JobStatus, Callable[[Session, Job], object]] = {
    J.queued: st.requeue_job,
    J.running: lambda s, j: st.mark_job_running(s, j, "h2"),
    J.succeeded: st.mark_job_succeeded,
    J.failed: lambda s, j: st.mark_job_failed(s, j, "boom", FailureClass.model),
    J.cancelled: st.cancel_job,
}


def test_transition_table_is_the_contract() -> None:
    table = {(a, b) for a, targets in st.JOB_TRANSITIONS.items() for b in targets}
    assert table == LEGAL_JOB_MOVES


def test_every_job_move_legal_or_refused(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        for source in JobStatus:
            for target in JobStatus:
                job = _new_job(s)
                for step in PATH_TO[source]:
                    step(s, job)
                assert job.status == source
                if (source, target) in LEGAL_JOB_MOVES:
                    MOVE_TO[target](s, job)
                    assert job.status == target
                    assert s.scalar(select(Job.status).where(Job.id == job.id)) == target
                else:
                    with pytest.raises(st.IllegalTransition, match=f"from {source} to {target}"):
                        MOVE_TO[target](s, job)
                    assert s.scalar(select(Job.status).where(Job.id == job.id)) == source  # unchanged


def test_job_lifecycle_timestamps_and_attempts(factory: sessionmaker[Session]) -> None:
    before = utcnow()
    with session_scope(factory) as s:
        job = _new_job(s)
        assert (job.status, job.attempts, job.started_at, job.finished_at) == (J.queued, 0, None, None)
        assert job.enqueued_at is None  # set when the job is sent to the broker (services.batches.dispatch)

        st.mark_job_running(s, job, "gpu-1")
        assert (job.status, job.attempts, job.worker_host) == (J.running, 1, "gpu-1")
        first_start = job.started_at
        assert first_start is not None and first_start >= before

        st.mark_job_running(s, job, "gpu-2")  # redelivery after a lost worker
        assert (job.attempts, job.worker_host) == (2, "gpu-2")
        assert job.started_at >= first_start

        st.mark_job_failed(s, job, "CUDA out of memory", FailureClass.model)
        assert (job.status, job.error, job.failure_class) == (J.failed, "CUDA out of memory", "model")
        assert job.finished_at is not None and job.finished_at >= job.started_at

        st.requeue_job(s, job)
        assert (job.status, job.attempts, job.error, job.started_at, job.finished_at) == (J.queued, 0, None, None, None)
        assert job.failure_class is None
        job_id = job.id

    with session_scope(factory) as s:  # what was committed, read back
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.error) == (J.queued, 0, None)
        assert job.updated_at.tzinfo is not None and job.updated_at >= before
        st.mark_job_running(s, job, "gpu-3")
        st.mark_job_succeeded(s, job)
        assert job.finished_at is not None and job.attempts == 1

    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        assert job.status == J.succeeded
        with pytest.raises(st.IllegalTransition, match="succeeded is final"):
            st.mark_job_running(s, job, "gpu-4")


def test_detached_job_is_updated_and_persisted(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        job = _new_job(s)
    with session_scope(factory) as s:  # `job` is detached from the first session
        st.mark_job_running(s, job, "cpu")
    assert (job.status, job.attempts) == (J.running, 1)
    with session_scope(factory) as s:
        assert s.get(Job, job.id).status == J.running


def test_mark_jobs_running_starts_only_startable(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        queued, running, done, cancelled = (_new_job(s) for _ in range(4))
        st.mark_job_running(s, running, "h")
        st.mark_job_running(s, done, "h")
        st.mark_job_succeeded(s, done)
        st.cancel_job(s, cancelled)
        ids = [queued.id, running.id, done.id, cancelled.id, 10_000_000]
        assert st.mark_jobs_running(s, ids, "w") == [queued.id, running.id]
        assert (queued.status, queued.attempts, running.attempts, done.attempts) == (J.running, 1, 2, 1)
        assert cancelled.status == J.cancelled


def test_fail_queued_job_for_document(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        job = _new_job(s)
        st.fail_queued_job_for_document(s, job, "document failed extraction: no text layer", FailureClass.unreadable)
        assert (job.status, job.error) == (J.failed, "document failed extraction: no text layer")
        assert job.failure_class == FailureClass.unreadable
        assert job.finished_at is not None
        running = _new_job(s)
        st.mark_job_running(s, running, "h")
        with pytest.raises(st.IllegalTransition, match="not queued"):
            st.fail_queued_job_for_document(s, running, "x", FailureClass.unreadable)


def test_unknown_job_is_a_lookup_error(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        ghost = _new_job(s)
        s.delete(ghost)
        s.flush()
        with pytest.raises(LookupError, match="does not exist"):
            st.mark_job_running(s, ghost, "h")


def test_batch_finish_and_counts(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        batch = Batch(name="nightly", params={"k": 3})
        jobs = [_new_job(s, batch) for _ in range(4)]
        st.mark_job_running(s, jobs[0], "h")
        st.mark_job_succeeded(s, jobs[0])
        st.fail_queued_job_for_document(s, jobs[1], "bad pdf", FailureClass.unreadable)
        st.cancel_job(s, jobs[2])
        assert st.batch_counts(s, batch.id) == {"queued": 1, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 1}
        assert batch.status == BatchStatus.running and batch.finished_at is None
        st.finish_batch(s, batch)
        batch_id = batch.id
    with session_scope(factory) as s:
        batch = s.get(Batch, batch_id)
        assert batch.status == BatchStatus.finished and batch.finished_at is not None
        snapshot = (batch.n_queued, batch.n_running, batch.n_succeeded, batch.n_failed, batch.n_cancelled)
        assert snapshot == (1, 0, 1, 1, 1)
        with pytest.raises(st.IllegalTransition, match="from finished to cancelled"):
            st.cancel_batch(s, batch)
        with pytest.raises(st.IllegalTransition):
            st.finish_batch(s, batch)


def test_cancel_batch_cancels_open_jobs(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        batch = Batch(name="b")
        queued, running, done = (_new_job(s, batch) for _ in range(3))
        other = _new_job(s)  # another batch: untouched
        st.mark_job_running(s, running, "h")
        st.mark_job_running(s, done, "h")
        st.mark_job_succeeded(s, done)
        assert st.cancel_batch(s, batch) == 2
        assert (queued.status, running.status, done.status, other.status) == (
            J.cancelled,
            J.cancelled,
            J.succeeded,
            J.queued,
        )
        assert (batch.status, batch.n_cancelled, batch.n_succeeded) == (BatchStatus.cancelled, 2, 1)
        with pytest.raises(st.IllegalTransition):  # the worker finishing a cancelled job is refused
            st.mark_job_succeeded(s, running)


def test_document_transitions(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        doc = Document(source_uri="scan.pdf", content_sha256="f" * 64, byte_size=3 * 1024**3)
        st.set_document_failed(s, doc, "no text layer (scanned PDF?)", FailureClass.unsupported)
        assert (doc.status, doc.error, doc.failure_class) == (
            DocumentStatus.failed,
            "no text layer (scanned PDF?)",
            "unsupported",
        )
        with pytest.raises(ValueError, match="needs text and sentences"):
            st.set_document_extracted(s, doc)
        doc.text, doc.sentences = "Now it reads.", ["Now it reads."]
        st.set_document_extracted(s, doc)
        assert (doc.status, doc.error, doc.failure_class) == (DocumentStatus.extracted, None, None)
        with pytest.raises(st.IllegalTransition, match="from extracted to failed"):
            st.set_document_failed(s, doc, "again", FailureClass.unsupported)
        with pytest.raises(ValueError, match="readable error"):
            st.set_document_failed(s, Document(source_uri="x"), "", FailureClass.unsupported)
        s.flush()
        doc_id = doc.id
    with session_scope(factory) as s:
        doc = s.get(Document, doc_id)
        assert doc.status == DocumentStatus.extracted and doc.byte_size == 3 * 1024**3


def test_double_delivery_succeeds_exactly_once(factory: sessionmaker[Session]) -> None:
    """Two workers finish the same job concurrently: the second waits for the first's lock, then is refused."""
    with session_scope(factory) as s:
        job = _new_job(s)
        st.mark_job_running(s, job, "h")
    first, second = factory(), factory()
    try:
        st.mark_job_succeeded(first, first.get(Job, job.id))  # holds the row (PostgreSQL) / write lock (SQLite)
        outcome: list[str] = []

        def other_worker() -> None:
            try:
                st.mark_job_succeeded(second, second.get(Job, job.id))
                second.commit()
                outcome.append("succeeded again")
            except st.IllegalTransition:
                second.rollback()
                outcome.append("refused")

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second worker should wait for the first transaction"
        first.commit()
        thread.join(30)
        assert outcome == ["refused"]
    finally:
        first.close()
        second.close()


def test_naive_datetime_refused(factory: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(factory) as s:
        s.add(Batch(name="b", created_at=datetime(2026, 1, 1)))
    with session_scope(factory) as s:
        b = Batch(name="b", created_at=datetime(2026, 1, 1, tzinfo=UTC))
        s.add(b)
    with session_scope(factory) as s:
        assert s.get(Batch, b.id).created_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_open_jobs_are_found_through_the_partial_index(factory: sessionmaker[Session]) -> None:
    """ "Any open job left?" follows each job's status, and (PostgreSQL) is answered from the partial index, which is
    what keeps the check per chunk from scanning a batch of millions."""
    with session_scope(factory) as session:
        batch = Batch(name="open")
        jobs = [_new_job(session, batch) for _ in range(3)]
        batch_id = batch.id
        assert st.has_open_jobs(session, batch_id)
        for job in jobs[:2]:
            st.mark_job_running(session, job, "h")
            st.mark_job_succeeded(session, job)
        assert st.has_open_jobs(session, batch_id)  # one still queued
        st.mark_job_running(session, jobs[2], "h")
        assert st.has_open_jobs(session, batch_id)  # running is open too
        st.mark_job_failed(session, jobs[2], "bad input", FailureClass.model)
        assert not st.has_open_jobs(session, batch_id)
        assert not st.has_open_jobs(session, batch_id + 1)
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: show that the index can serve it
            check = select(select(Job.id).where(Job.batch_id == batch_id, text(JOB_IS_OPEN)).exists())
            sql = check.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
            assert "ix_jobs_open_batch_id" in plan, plan


def test_final_markers_follow_the_commits(factory: sessionmaker[Session]) -> None:
    """A job made final in a transaction that commits late still comes out after the marker a reader saw: the second
    transaction waits for the first one's batch lock before it takes its marker, so markers are in commit order."""
    with session_scope(factory) as s:
        batch = Batch(name="b")
        early, late = _new_job(s, batch), _new_job(s, batch)
        for job in (early, late):
            st.mark_job_running(s, job, "h")
        s.flush()
        batch_id, early_id, late_id = batch.id, early.id, late.id
    first, second = factory(), factory()
    try:
        st.mark_job_succeeded(first, first.get(Job, early_id))  # marker taken, not yet committed

        def other_worker() -> None:
            st.mark_job_failed(second, second.get(Job, late_id), "boom", FailureClass.model)
            second.commit()

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second transaction should wait for the first one's marker"
        with session_scope(factory) as reader:
            assert bsvc.final_since(reader, batch_id, 0) == ([], 0)
        first.commit()
        thread.join(30)
        assert not thread.is_alive()
        with session_scope(factory) as reader:
            ids, marker = bsvc.final_since(reader, batch_id, 0)
            assert ids == [early_id, late_id]
            markers = dict(reader.execute(select(Job.id, Job.final_seq).where(Job.batch_id == batch_id)).all())
            assert markers[early_id] < markers[late_id] == marker
            assert bsvc.final_since(reader, batch_id, marker) == ([], marker)
    finally:
        first.close()
        second.close()


def test_final_markers_of_cancel_and_retry(factory: sessionmaker[Session]) -> None:
    """One cancel stamps all its jobs with one marker above the earlier ones; a retried job loses its marker and takes
    a new one when it ends again; jobs of another batch are never read."""
    with session_scope(factory) as s:
        batch = Batch(name="b")
        done, queued, running = (_new_job(s, batch) for _ in range(3))
        other = _new_job(s)
        for job in (done, running, other):
            st.mark_job_running(s, job, "h")
        st.mark_job_succeeded(s, done)
        st.mark_job_succeeded(s, other)
        s.flush()
        first_ids, first_marker = bsvc.final_since(s, batch.id, 0)
        assert first_ids == [done.id] and done.final_seq == first_marker
        st.cancel_batch(s, batch)
        ids, marker = bsvc.final_since(s, batch.id, first_marker)
        assert ids == [queued.id, running.id] and marker > first_marker
        assert queued.final_seq == running.final_seq == marker
        st.requeue_job(s, queued)
        assert queued.final_seq is None
        assert bsvc.final_since(s, batch.id, 0)[0] == [done.id, running.id]
        st.mark_job_running(s, queued, "h")
        st.mark_job_failed(s, queued, "boom", FailureClass.model)
        assert bsvc.final_since(s, batch.id, marker) == ([queued.id], queued.final_seq)
        assert queued.final_seq > marker
