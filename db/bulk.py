"""Statements over many rows whose cost per row matters: a GPU summarize worker reads and stores hundreds of
documents a second, and a client submits batches of thousands.

On PostgreSQL, ids travel as one array literal (`= ANY(array)`, `unnest`) and rows as one JSON document
(`json_to_recordset`), in statements of fixed text.
A statement that grows with the rows (`IN (p1, ..., pN)`, multi-row VALUES, or one statement per row) costs far more
on the client than on the server: SQLAlchemy compiles and psycopg parses it anew, parameter by parameter, for every
size; at thousands of ids that was most of a submit's time. Elsewhere (SQLite) the portable forms are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session

from docsum.db.models import ArchiveFile, Job, JobStatus, Summary, utcnow
from docsum.db.session import json_dumps


def is_postgres(session: Session) -> bool:
    """Whether the session's database is PostgreSQL, where the statements here take their array and JSON forms."""
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids` for an integer column: one array parameter on PostgreSQL, a plain IN list elsewhere."""
    if is_postgres(session):
        # A list, typed: the planner sees an int[] value (text cast to int[] at run time left it guessing, and it
        # chose sequential scans).
        return column == any_(bindparam(None, [int(i) for i in ids], type_=ARRAY(Integer)))
    return column.in_(list(ids))


def int_array(ids: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers, '{1,2,3}', for a statement that unpacks it (`unnest`): the driver
    sends one string instead of adapting every element of a list, which costs more than the insert itself."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


_JOBS_FROM_ARRAYS = text(
    """
    INSERT INTO jobs
        (batch_id, document_id, model_id, params, params_key, status, attempts, updated_at, enqueued_at)
    SELECT :batch_id, document_id, :model_id, CAST(:params AS json), :params_key, :status, 0, :now,
        CAST(:enqueued_at AS timestamp with time zone)
    FROM unnest(CAST(:document_ids AS integer[])) WITH ORDINALITY AS row (document_id, position)
    ORDER BY position
    RETURNING id, document_id
    """
)


def insert_jobs(
    session: Session,
    batch_id: int,
    document_ids: Sequence[int],
    model_id: str,
    params: dict[str, Any],
    key: str,
    sent: bool = False,
) -> list[tuple[int, int]]:
    """Queued jobs of one batch, one per document, in one statement; returns (job id, document id) pairs. `sent`:
    marked sent to the broker already (the caller sends them all once this commits)."""
    if not document_ids:
        return []
    now = utcnow()
    enqueued_at = now if sent else None
    if not is_postgres(session):
        rows = [
            {
                "batch_id": batch_id,
                "document_id": d,
                "model_id": model_id,
                "params": params,
                "params_key": key,
                "enqueued_at": enqueued_at,
            }
            for d in document_ids
        ]
        return [(i, d) for i, d in session.execute(insert(Job).returning(Job.id, Job.document_id), rows)]
    created = session.execute(
        _JOBS_FROM_ARRAYS,
        {
            "batch_id": batch_id,
            "document_ids": int_array(document_ids),
            "model_id": model_id,
            "params": json_dumps(params),
            "params_key": key,
            "status": JobStatus.queued.value,
            "now": now,
            "enqueued_at": enqueued_at,
        },
    )
    return [(i, d) for i, d in created]


# The rows travel as one JSON document (orjson writes it in microseconds) that PostgreSQL unpacks into columns.
_SUMMARIES_FROM_JSON = text(
    """
    INSERT INTO summaries
        (job_id, document_id, model_id, params_key, sentence_indices, scores, text, note, created_at)
    SELECT job_id, document_id, model_id, params_key, sentence_indices, scores, text, note, :created_at
    FROM json_to_recordset(CAST(:rows AS json)) AS row (
        job_id integer, document_id integer, model_id text, params_key text, sentence_indices json, scores json,
        text text, note text
    )
    ON CONFLICT (document_id, model_id, params_key) DO UPDATE SET
        job_id = EXCLUDED.job_id, sentence_indices = EXCLUDED.sentence_indices, scores = EXCLUDED.scores,
        text = EXCLUDED.text, note = EXCLUDED.note, created_at = EXCLUDED.created_at
    """
)
# What a new summary of a document already summarized by the same model and parameters replaces.
_REPLACED = ("job_id", "sentence_indices", "scores", "text", "note", "created_at")

SUMMARY_FIELDS = ("job_id", "document_id", "model_id", "params_key", "sentence_indices", "scores", "text", "note")


def insert_summaries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert summaries (dicts with SUMMARY_FIELDS) in one statement. A document that already has a summary from
    the same model and parameters keeps one: the new one replaces it (the unique index allows no second). A
    duplicate job_id raises IntegrityError inside the caller's transaction, as a plain INSERT would."""
    if not rows:
        return
    if not is_postgres(session):
        stmt = sqlite_insert(Summary)
        replaced = {name: stmt.excluded[name] for name in _REPLACED}
        stmt = stmt.on_conflict_do_update(index_elements=["document_id", "model_id", "params_key"], set_=replaced)
        now = utcnow()
        session.execute(stmt, [{"created_at": now, **row} for row in rows])
        return
    payload = [{name: row.get(name) for name in SUMMARY_FIELDS} for row in rows]
    session.execute(_SUMMARIES_FROM_JSON, {"rows": json_dumps(payload), "created_at": utcnow()})


# What a file seen again updates in its row (its path is the key).
_FILE_FIELDS = ("size", "mtime_ns", "seen_at", "deleted_at")


def upsert_files(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update `archive_files` rows (dicts with path and _FILE_FIELDS) by path, in one statement per batch
    of rows: two transactions recording the same new path both succeed (the later write wins) instead of one
    failing on the unique path, as a select-then-insert would under concurrent ingest."""
    if not rows:
        return
    stmt = (postgresql_insert if is_postgres(session) else sqlite_insert)(ArchiveFile)
    stmt = stmt.on_conflict_do_update(
        index_elements=["path"], set_={name: stmt.excluded[name] for name in _FILE_FIELDS}
    )
    session.execute(stmt, list(rows))
