"""A killed run resumes, on SQLite and PostgreSQL: at most one summary per document, model and parameters (the
database refuses a second), a new job for a document already summarized by the same model succeeds at once with
that summary instead of summarizing it again (unless forced), and a batch whose embedded process is gone is seen as
interrupted and closed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from docsum.db import status as db_status
from docsum.db.bulk import insert_summaries
from docsum.db.migrate import upgrade
from docsum.db.models import Document, Job, JobStatus, Summary
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.services import batches
from docsum.services.models import ModelRef
from docsum.services.owners import this_process

MODEL = ModelRef(path=None, model_id="test-model@1")
SENTENCES = ["The council met on Monday.", "It approved the new bridge.", "Work starts in spring."]


@pytest.fixture
def sf(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(any_db_url)
    yield make_session_factory(any_db_url)
    dispose_engine(any_db_url)


def add_document(sf: sessionmaker[Session], n: int) -> int:
    with session_scope(sf) as session:
        doc = Document(source_uri=f"/archive/doc{n}.txt", content_sha256=hashlib.sha256(f"doc{n}".encode()).hexdigest())
        doc.sentences = [f"{s} ({n})" for s in SENTENCES]
        doc.text = " ".join(doc.sentences)
        db_status.set_document_extracted(session, doc)
        session.flush()
        return doc.id


def new_batch(sf: sessionmaker[Session], document_ids: list[int], **extra: object) -> tuple[int, list[int]]:
    with session_scope(sf) as session:
        batch = batches.create_batch(session, "test", MODEL, batches.job_params(2), **extra)
        return batch.id, batches.add_jobs(session, batch, document_ids)


def summarize_as_a_worker(sf: sessionmaker[Session], job_ids: list[int], text: str = "summary") -> None:
    with session_scope(sf) as session:
        db_status.mark_jobs_running(session, job_ids, "test-worker")
        db_status.mark_jobs_succeeded(session, job_ids)
        jobs = session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
        rows = [
            {
                "job_id": job.id,
                "document_id": job.document_id,
                "model_id": job.model_id,
                "params_key": job.params_key,
                "sentence_indices": [0, 1],
                "scores": [0.9, 0.8],
                "text": text,
                "note": None,
            }
            for job in jobs
        ]
        insert_summaries(session, rows)


def test_the_database_holds_at_most_one_summary_per_document_model_and_params(sf: sessionmaker[Session]) -> None:
    doc = add_document(sf, 1)
    _, (first,) = new_batch(sf, [doc])
    summarize_as_a_worker(sf, [first], "first")
    _, (second,) = new_batch(sf, [doc], force=True)  # forced: queued, summarized again
    with pytest.raises(IntegrityError), session_scope(sf) as session:  # a plain second INSERT is refused
        session.add(
            Summary(
                job_id=second,
                document_id=doc,
                model_id=MODEL.model_id,
                params_key=session.get(Job, second).params_key,
                sentence_indices=[0],
                scores=[1.0],
                text="again",
            )
        )
        session.flush()
    summarize_as_a_worker(sf, [second], "second")  # the workers' write replaces it
    with sf() as session:
        rows = session.execute(select(Summary.job_id, Summary.text).where(Summary.document_id == doc)).all()
    assert [tuple(r) for r in rows] == [(second, "second")]


def test_a_document_already_summarized_by_the_model_is_not_summarized_again(sf: sessionmaker[Session]) -> None:
    done, fresh = add_document(sf, 1), add_document(sf, 2)
    first_batch, (first,) = new_batch(sf, [done])
    summarize_as_a_worker(sf, [first], "from the first run")

    rerun, queued = new_batch(sf, [done, fresh])
    with sf() as session:
        jobs = {j.document_id: j for j in session.scalars(select(Job).where(Job.batch_id == rerun))}
        records = {r.document_id: r for r in batches.batch_results(session, rerun)}
    assert queued == [jobs[fresh].id]  # only the new document goes to a worker
    assert jobs[done].status == JobStatus.succeeded and jobs[done].worker_host == batches.ALREADY_SUMMARIZED
    assert records[done].status == "succeeded" and records[done].indices == [0, 1]
    assert records[done].summary == [f"{s} (1)" for s in SENTENCES[:2]]
    assert records[fresh].status == "queued" and records[fresh].summary == []
    with session_scope(sf) as session:
        assert batches.maybe_finish_batch(session, rerun) is False  # the fresh one is still to do

    # The first batch's own record is unchanged, and --force queues the summarized document again.
    with sf() as session:
        assert [r.summary for r in batches.batch_results(session, first_batch)] == [records[done].summary]
    _, forced = new_batch(sf, [done], force=True)
    assert len(forced) == 1
    with sf() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 1


def dead_process_owner() -> dict:
    """The owner record of a process that has exited."""
    code = "import json; from docsum.services.owners import this_process; print(json.dumps(this_process()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_a_batch_whose_embedded_process_is_gone_is_interrupted_then_closed(sf: sessionmaker[Session]) -> None:
    docs = [add_document(sf, n) for n in range(3)]
    orphan, queued = new_batch(sf, docs, owner=dead_process_owner())
    summarize_as_a_worker(sf, queued[:1])
    alive, _ = new_batch(sf, [add_document(sf, 9)], owner=this_process())
    with sf() as session:
        report = batches.batch_report(session, orphan)
        assert (report.status, report.interrupted) == ("interrupted", True)
        assert report.complete  # a wait on it returns instead of waiting forever
        assert batches.batch_report(session, alive).status == "running"
    with session_scope(sf) as session:
        assert batches.close_interrupted(session) == [(orphan, 2)]
    with session_scope(sf) as session:
        assert batches.close_interrupted(session) == []  # once
        report = batches.batch_report(session, orphan)
        assert (report.status, report.interrupted) == ("cancelled", True)
        assert report.counts["succeeded"] == 1 and report.counts["cancelled"] == 2
        assert batches.batch_report(session, alive).status == "running"
