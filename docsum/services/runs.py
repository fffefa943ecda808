"""The batch workflow, written once: commit a batch and its jobs, then send its work; cancel a batch whose work the
broker cannot take; finish a batch when its last work ends, and write the nightly report.

The client, the Celery tasks and the embedded runner all go through here. How work travels is not this module's
business: the caller passes a `Sender`, which the worker package implements over Celery. Services never enqueue by
themselves, because work sent before its transaction commits can reach a worker that cannot see it yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.session import session_scope
from docsum.errors import BrokerUnavailable
from docsum.services import batches
from docsum.services.database import first_line
from docsum.services.ingest import NotRead, not_read_documents
from docsum.services.models import ModelRef
from docsum.services.nightly import NightlyOutcome, plan_nightly
from docsum.services.report import write_nightly_report


class Sender(Protocol):
    """Sends committed work to the workers."""

    unavailable: tuple[type[BaseException], ...]  # what the broker raises when it cannot take work

    def ingest(self, batch_id: int, paths: Sequence[str]) -> None: ...

    def summarize(self, job_ids: Sequence[int], batch_id: int | None = None) -> None: ...


def finish_if_done(sessions: sessionmaker[Session], settings: Settings, batch_id: int) -> bool:
    """Finish the batch in its own transaction if its last work just ended (see batches.maybe_finish_batch), and
    write its report if it is a nightly run. True if this call finished it."""
    with session_scope(sessions) as session:
        finished = batches.maybe_finish_batch(session, int(batch_id))
    if finished:
        write_nightly_report(sessions, settings, int(batch_id))
    return finished


def send(
    sessions: sessionmaker[Session],
    sender: Sender,
    batch_id: int,
    files: Sequence[str] = (),
    jobs: Sequence[int] = (),
) -> None:
    """Send a committed batch's files to ingest and jobs to summarize. If the broker cannot take them, the batch is
    cancelled (workers skip anything of it already sent), so that nothing is left running forever, and
    BrokerUnavailable says so."""
    try:
        if files:
            sender.ingest(batch_id, files)
        if jobs:
            sender.summarize(jobs, batch_id)
    except sender.unavailable as error:
        with session_scope(sessions) as session:
            batches.cancel_batch(session, batch_id)
        raise BrokerUnavailable(
            f"cannot reach the broker: {first_line(error)}; batch {batch_id} was cancelled "
            "(check DOCSUM_BROKER_URL and that Redis is up, then submit again)"
        ) from error


def submit(
    sessions: sessionmaker[Session],
    settings: Settings,
    sender: Sender,
    name: str,
    model: ModelRef,
    params: dict[str, Any],
    files: Sequence[str] = (),
    skipped: Sequence[NotRead] = (),
    documents: Sequence[int] = (),
    **extra: Any,
) -> int:
    """A new batch of files (to ingest; `skipped`: entries not read, each a failed document with its reason) or of
    stored documents (summarized at once), committed, then sent. Returns its id."""
    with session_scope(sessions) as session:
        batch = batches.create_batch(session, name, model, params, files_total=len(files), **extra)
        batch_id = batch.id
        if skipped:
            batches.add_jobs(session, batch, not_read_documents(session, skipped), new_batch=True)
        jobs = [] if files or skipped else batches.add_jobs(session, batch, documents, sent=True, new_batch=True)
    send(sessions, sender, batch_id, files=files, jobs=jobs)
    if not files:
        finish_if_done(sessions, settings, batch_id)  # every document may have failed already
    return batch_id


def start_nightly(
    sessions: sessionmaker[Session],
    settings: Settings,
    sender: Sender,
    roots: Sequence[str | Path],
    model: ModelRef,
    params: dict[str, Any],
) -> NightlyOutcome:
    """The nightly run: scan the roots and plan (services.nightly), then send new and changed files to ingest and
    stored documents lacking a summary to summarize. A run with nothing to do is finished and reported at once."""
    outcome = plan_nightly(sessions, [str(r) for r in roots], model, params)
    send(sessions, sender, outcome.batch_id, files=outcome.to_ingest, jobs=outcome.to_summarize)
    if not (outcome.to_ingest or outcome.to_summarize):
        write_nightly_report(sessions, settings, outcome.batch_id)
    return outcome


def work_sent_on(
    sessions: sessionmaker[Session], settings: Settings, sender: Sender, batch_id: int, jobs: Sequence[int]
) -> None:
    """What follows a worker's step of a batch: the jobs it made ready go to summarize, then the batch finishes if
    that step was its last work. A broker error propagates: the worker's task retries."""
    if jobs:
        sender.summarize(jobs, batch_id)
    finish_if_done(sessions, settings, batch_id)


def retry_failed(sessions: sessionmaker[Session], settings: Settings, sender: Sender, batch_id: int) -> int:
    """Put the batch's failed jobs back in the queue and send them; returns how many. When none can run again, the
    batch is left as it was (finished, its timing kept)."""
    with session_scope(sessions) as session:
        requeued = batches.retry_failed(session, int(batch_id))
    if requeued:
        send(sessions, sender, int(batch_id), jobs=requeued)
    else:
        finish_if_done(sessions, settings, int(batch_id))
    return len(requeued)
