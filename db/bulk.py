"""Statements over many rows whose cost per row matters: a GPU summarize worker reads and stores hundreds of
documents a second, and a client submits batches of thousands.

On PostgreSQL, ids and rows travel as one array per column (`= ANY(array)`, `unnest`) in statements of fixed text.
A statement that grows with the rows (`IN (p1, ..., pN)`, multi-row VALUES, or one statement per row) costs far more
on the client than on the server: SQLAlchemy compiles and psycopg parses it anew, parameter by parameter, for every
size; at thousands of ids that was most of a submit's time. Elsewhere (SQLite) the portable forms are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, insert, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from docsum.db.models import Job, JobStatus, Summary, utcnow
from docsum.db.session import json_dumps


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids` for an integer column: one array parameter on PostgreSQL, a plain IN list elsewhere."""
    if _postgres(session):
        return column == any_(bindparam(None, [int(i) for i in ids], type_=ARRAY(Integer)))
    return column.in_(list(ids))


_JOBS_FROM_ARRAYS = text(
    """
    INSERT INTO jobs (batch_id, document_id, model_id, params, params_key, status, attempts, updated_at)
    SELECT :batch_id, document_id, :model_id, CAST(:params AS json), :params_key, :status, 0, :now
    FROM unnest(CAST(:document_ids AS integer[])) WITH ORDINALITY AS row (document_id, position)
    ORDER BY position
    RETURNING id, document_id
    """
)


def insert_jobs(
    session: Session, batch_id: int, document_ids: Sequence[int], model_id: str, params: dict[str, Any], key: str
) -> list[tuple[int, int]]:
    """Queued jobs of one batch, one per document, in one statement; returns (job id, document id) pairs."""
    if not document_ids:
        return []
    if not _postgres(session):
        rows = [
            {"batch_id": batch_id, "document_id": d, "model_id": model_id, "params": params, "params_key": key}
            for d in document_ids
        ]
        return [(i, d) for i, d in session.execute(insert(Job).returning(Job.id, Job.document_id), rows)]
    created = session.execute(
        _JOBS_FROM_ARRAYS,
        {
            "batch_id": batch_id,
            "document_ids": [int(d) for d in document_ids],
            "model_id": model_id,
            "params": json_dumps(params),
            "params_key": key,
            "status": JobStatus.queued.value,
            "now": utcnow(),
        },
    )
    return [(i, d) for i, d in created]


_SUMMARIES_FROM_ARRAYS = text(
    """
    INSERT INTO summaries
        (job_id, document_id, model_id, params_key, sentence_indices, scores, text, note, created_at)
    SELECT job_id, document_id, model_id, params_key, sentence_indices::json, scores::json, body, note, :created_at
    FROM unnest(
        CAST(:job_id AS integer[]), CAST(:document_id AS integer[]), CAST(:model_id AS text[]),
        CAST(:params_key AS text[]), CAST(:sentence_indices AS text[]), CAST(:scores AS text[]),
        CAST(:body AS text[]), CAST(:note AS text[])
    ) AS row (job_id, document_id, model_id, params_key, sentence_indices, scores, body, note)
    """
)

SUMMARY_FIELDS = ("job_id", "document_id", "model_id", "params_key", "sentence_indices", "scores", "text", "note")


def insert_summaries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert summaries (dicts with SUMMARY_FIELDS) in one statement. A duplicate job_id raises IntegrityError
    inside the caller's transaction, as a plain INSERT would."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(Summary), rows)
        return
    params: dict[str, Any] = {
        "job_id": [r["job_id"] for r in rows],
        "document_id": [r["document_id"] for r in rows],
        "model_id": [r["model_id"] for r in rows],
        "params_key": [r["params_key"] for r in rows],
        "sentence_indices": [json_dumps(r["sentence_indices"]) for r in rows],
        "scores": [json_dumps(r["scores"]) for r in rows],
        "body": [r["text"] for r in rows],
        "note": [r.get("note") for r in rows],
        "created_at": utcnow(),
    }
    session.execute(_SUMMARIES_FROM_ARRAYS, params)
