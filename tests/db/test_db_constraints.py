"""What the database itself enforces: unique constraints, cascades, enum values, the SQLite connection setup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from docsum.db import status as st
from docsum.db.migrate import upgrade
from docsum.db.models import Batch, Document, Job, Summary, params_key
from docsum.db.session import dispose_engine, make_engine, make_session_factory, session_scope

PARAMS = {"k": 3, "block_trigrams": True, "max_words": None}


def _factory(url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(url)
    yield make_session_factory(url)
    dispose_engine(url)


@pytest.fixture
def pg_factory(pg_url: str) -> Iterator[sessionmaker[Session]]:
    yield from _factory(pg_url)


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    yield from _factory(any_db_url)


def _doc(session: Session, sha: str | None, uri: str = "a.txt") -> Document:
    doc = Document(source_uri=uri, content_sha256=sha, text="Hello.", sentences=["Hello."])
    st.set_document_extracted(session, doc)
    session.flush()
    return doc


def _job(session: Session, batch: Batch, doc: Document) -> Job:
    job = Job(batch=batch, document=doc, model_id="m", params=PARAMS, params_key=params_key(PARAMS))
    session.add(job)
    session.flush()
    return job


def _summary(job: Job) -> Summary:
    return Summary(
        job_id=job.id,
        document_id=job.document_id,
        model_id=job.model_id,
        params_key=job.params_key,
        sentence_indices=[0],
        scores=[0.9],
        text="Hello.",
    )


def test_same_content_stored_once(pg_factory: sessionmaker[Session]) -> None:
    with session_scope(pg_factory) as s:
        _doc(s, "a" * 64)
    with pytest.raises(IntegrityError, match="uq_documents_content_sha256"), session_scope(pg_factory) as s:
        _doc(s, "a" * 64, uri="copy-of-a.txt")
    with session_scope(pg_factory) as s:  # unreadable files (no hash) are all kept
        _doc(s, None, "x")
        _doc(s, None, "y")
        assert s.scalar(select(func.count()).select_from(Document)) == 3


def test_one_job_per_document_per_batch(pg_factory: sessionmaker[Session]) -> None:
    with session_scope(pg_factory) as s:
        batch, doc = Batch(name="b"), _doc(s, "b" * 64)
        _job(s, batch, doc)
        batch_id, doc_id = batch.id, doc.id
    with pytest.raises(IntegrityError, match="uq_jobs_batch_id_document_id"), session_scope(pg_factory) as s:
        _job(s, s.get(Batch, batch_id), s.get(Document, doc_id))
    with session_scope(pg_factory) as s:  # the same document in another batch is fine
        _job(s, Batch(name="b2"), s.get(Document, doc_id))


def test_one_summary_per_job(pg_factory: sessionmaker[Session]) -> None:
    with session_scope(pg_factory) as s:
        job = _job(s, Batch(name="b"), _doc(s, "c" * 64))
        s.add(_summary(job))
    with pytest.raises(IntegrityError, match="uq_summaries_job_id"), session_scope(pg_factory) as s:
        s.add(_summary(job))


def test_deleting_a_batch_cascades(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        batch = Batch(name="b")
        job = _job(s, batch, _doc(s, "d" * 64))
        s.add(_summary(job))
        batch_id = batch.id
    with session_scope(factory) as s:
        s.execute(delete(Batch).where(Batch.id == batch_id))
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
        assert s.scalar(select(func.count()).select_from(Summary)) == 0
        assert s.scalar(select(func.count()).select_from(Document)) == 1  # documents outlive batches


def test_foreign_keys_enforced(factory: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(Job(batch_id=123456, document_id=654321, model_id="m", params={}, params_key="{}"))


def test_unknown_status_value_rejected(factory: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError, match="bogus"), session_scope(factory) as s:
        s.add(Batch(name="b", status="bogus"))


def test_status_stored_as_plain_value(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        job = _job(s, Batch(name="b"), _doc(s, "e" * 64))
        st.mark_job_running(s, job, "h")
    with session_scope(factory) as s:
        assert s.scalar(text("SELECT status FROM jobs")) == "running"
        assert s.scalar(text("SELECT status FROM batches")) == "running"


def test_sqlite_connection_setup(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert make_engine(sqlite_url) is engine  # cached per URL
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA busy_timeout")) >= 10_000
    finally:
        dispose_engine(sqlite_url)
