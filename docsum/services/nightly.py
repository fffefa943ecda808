"""The nightly bulk run at archive scale.

The run walks its roots and compares each file's size and mtime with what ingest last saw (`services.archive`):
unchanged files are skipped without being read; new and changed files fan out to the ingest queue in chunks, so every
ingest worker takes part; files gone since the last run are marked deleted. Documents already stored under the roots
that lack a summary for the current model and parameters (a new model, a failed job retried) get jobs at once. Only
the roots' documents are touched. The run's counts (seen, skipped, new, changed, deleted, unreadable) are kept in the
batch's params, under "scan".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from docsum.db.models import Document, DocumentStatus, Job, Summary, params_key
from docsum.db.session import session_scope
from docsum.services import archive
from docsum.services.batches import (
    FINAL_STATES,
    add_jobs,
    close_interrupted,
    create_batch,
    dispatch,
    maybe_finish_batch,
)
from docsum.services.ingest import not_read_documents
from docsum.services.models import ModelRef


@dataclass
class NightlyOutcome:
    batch_id: int
    scan: dict[str, int]  # seen, skipped, new, changed, deleted, unreadable
    to_ingest: list[str]  # new and changed files, to enqueue after commit
    to_summarize: list[int]  # queued job ids of documents already stored, to enqueue after commit


def nightly_batch_name(now: datetime | None = None) -> str:
    return f"nightly {(now or datetime.now(UTC)).strftime('%Y-%m-%d')}"


def _source_under(roots: Sequence[str]) -> ColumnElement[bool]:
    """Documents whose source is a file under one of the roots (or an archive member of one)."""
    return or_(*(archive.under(Document.source_uri, str(Path(root).resolve())) for root in roots))


def unsummarized(session: Session, model_id: str, key: str, roots: Sequence[str] | None = None) -> list[int]:
    """Extracted documents (under `roots`, if given) with neither a summary nor a pending job for this model and
    params."""
    has_summary = exists().where(
        Summary.document_id == Document.id, Summary.model_id == model_id, Summary.params_key == key
    )
    # "Not final" rather than "queued or running": the same jobs, but a form that does not match the partial index
    # of open jobs (ix_jobs_open_batch_id), which the planner, on statistics not yet updated after a large insert,
    # would otherwise scan once per document (seen: 3,000 documents, 0.2 s; 10,000, 2.6 s).
    pending = exists().where(
        Job.document_id == Document.id,
        Job.model_id == model_id,
        Job.params_key == key,
        Job.status.not_in(FINAL_STATES),
    )
    stmt = select(Document.id).where(Document.status == DocumentStatus.extracted, ~has_summary, ~pending)
    if roots is not None:
        stmt = stmt.where(_source_under(roots))
    return list(session.scalars(stmt.order_by(Document.id)))


def plan_nightly(
    sessions: sessionmaker[Session], roots: Sequence[str], model: ModelRef, params: dict[str, Any]
) -> NightlyOutcome:
    """Scan the roots and create the run's batch; returns what to enqueue after this commit. With nothing to
    ingest or summarize, the batch is finished at once."""
    roots = [str(Path(r).resolve()) for r in roots]
    with session_scope(sessions) as session:
        # A batch whose embedded process died holds open jobs that would count as pending forever: close it first,
        # so that its unfinished documents are summarized by this run.
        close_interrupted(session)
        found = archive.scan(session, roots)
        files = found.new + found.changed
        batch = create_batch(
            session,
            nightly_batch_name(),
            model,
            params,
            files_total=len(files),
            roots=roots,
            only_unsummarized=True,
            scan=found.counts(),
        )
        # Entries the walk did not read (links out of a root, loops, FIFOs, ...) are failed documents of the run with
        # their reason: the run's results say what was skipped and why.
        not_read = not_read_documents(session, found.not_read)
        stored = unsummarized(session, model.model_id, params_key(params), roots)
        add_jobs(session, batch, not_read + stored, new_batch=True)
        queued = dispatch(session, batch.id, 1, everything=True)
        if not files and not queued:
            maybe_finish_batch(session, batch.id)
        return NightlyOutcome(batch_id=batch.id, scan=found.counts(), to_ingest=files, to_summarize=queued)


def describe_scan(counts: dict[str, int]) -> str:
    """E.g. '1,204 files seen: 12 new, 3 changed, 1,189 unchanged, 2 deleted, 0 unreadable'."""
    return (
        f"{counts['seen']:,} files seen: {counts['new']:,} new, {counts['changed']:,} changed, "
        f"{counts['skipped']:,} unchanged, {counts['deleted']:,} deleted, {counts['unreadable']:,} unreadable"
    )
