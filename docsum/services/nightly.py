"""The nightly bulk run: ingest the archive roots, then give a job to every document that lacks a summary for the
current model and parameters, in a batch named 'nightly YYYY-MM-DD'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.models import Document, DocumentStatus, Job, JobStatus, Summary, params_key
from docsum.db.session import session_scope
from docsum.ingest.pipeline import ingest_paths
from docsum.services.batches import add_jobs, create_batch, get_batch, maybe_finish_batch
from docsum.services.models import ModelRef


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


def unsummarized(session: Session, model_id: str, key: str) -> list[int]:
    """Extracted documents with neither a summary nor a pending job for this model and params."""
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


def plan_nightly(
    sessions: sessionmaker[Session], settings: Settings, roots: Sequence[str], model: ModelRef, params: dict[str, Any]
) -> NightlyOutcome:
    """Ingest the roots (unchanged files are content-hash duplicates: no-ops), then create queued jobs for every
    extracted document without a summary (or pending job) for this model and params. Returns the jobs to enqueue;
    with none, the batch is finished at once. Commits in steps (the batch, each document, the jobs), hence the
    session factory."""
    with session_scope(sessions) as session:
        batch_id = create_batch(session, nightly_batch_name(), model, params, roots=list(roots)).id
    counts = ingest_paths(sessions, [str(r) for r in roots], settings).counts()
    files = sum(counts.values())
    with session_scope(sessions) as session:
        batch = get_batch(session, batch_id, for_update=True)
        batch.files_total = batch.files_done = files
        queued = add_jobs(session, batch, unsummarized(session, model.model_id, params_key(params)))
        if not queued:
            maybe_finish_batch(session, batch_id)
    return NightlyOutcome(
        batch_id=batch_id,
        files=files,
        ingested=counts["ingested"],
        duplicates=counts["duplicate"],
        failed=counts["failed"],
        to_summarize=queued,
    )
