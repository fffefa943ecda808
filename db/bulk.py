"""Bulk writes whose cost per row matters: a GPU summarize worker stores hundreds of summaries a second.

On PostgreSQL the rows travel as one array per column and are unpacked by `unnest` in a single statement of fixed
text: no per-row statement (executemany) and no statement that grows with the rows (multi-row VALUES, which
SQLAlchemy compiles anew, parameter by parameter, for every size). Elsewhere (SQLite) the ORM's bulk insert does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from docsum.db.models import Summary, utcnow
from docsum.db.session import json_dumps

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
