"""The ingest step of a batch: store a chunk of files, give their documents jobs, count the files done.

It commits per document (inside `docsum.ingest`) and then once for the jobs, so it takes a session factory rather
than a session: a crash midway keeps what was stored, and a redelivery adds nothing twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.models import Batch, BatchStatus, Job
from docsum.db.session import session_scope
from docsum.errors import FailureClass
from docsum.ingest.pipeline import IngestReport, Progress, expand_paths, ingest_file, ingest_paths
from docsum.ingest.sources import Source, walk_paths
from docsum.ingest.store import store_skipped, store_source
from docsum.services.archive import FileStat, record_files, stat_file
from docsum.services.batches import add_jobs, count_files_done, dispatch, get_batch, without_summary
from docsum.services.database import open_sessions
from docsum.services.tokens import store_tokens

log = logging.getLogger(__name__)

# An entry the walk did not read: (absolute path, reason, its class); stored as a failed document.
NotRead = tuple[str, str, FailureClass]


@dataclass
class IngestOutcome:
    batch_id: int
    report: IngestReport = field(default_factory=IngestReport)
    to_summarize: list[int] = field(default_factory=list)  # queued job ids, to enqueue after commit

    @property
    def errors(self) -> list[str]:
        """Files that produced no document at all, with the reason."""
        return [f"{item.source_uri}: {item.reason}" for item in self.report.items if item.document_id is None]


def ingest_files(
    sessions: sessionmaker[Session], settings: Settings, batch_id: int, paths: Sequence[str]
) -> IngestOutcome:
    """Ingest files of a batch, create their jobs, count the files done, commit; return the jobs to enqueue."""
    outcome = IngestOutcome(batch_id=batch_id)
    with session_scope(sessions) as session:
        batch = get_batch(session, batch_id)
        if batch.status == BatchStatus.cancelled:
            log.info("batch %s is cancelled; skipping %d files", batch_id, len(paths))
            return outcome
        model_path = batch.params.get("model")  # fixed when the batch was created
        roots = batch.params.get("roots")  # absent in batches made before roots were kept: nothing to check
    paths, foreign, links = check_paths(paths, roots)
    if foreign:  # a forged or misrouted message: this batch never had these files, so nothing is counted
        log.error("batch %s: %d paths outside the batch's roots refused, e.g. %a", batch_id, len(foreign), foreign[0])

    seen: list[FileStat] = []
    for path in paths:
        stat = stat_file(path)  # before reading: a file changed while it is read looks changed to the next scan
        items = ingest_file(sessions, path, settings)
        outcome.report.items.extend(items)
        # A file that could not be read is not remembered: after `chmod` (which leaves size and mtime alone) the
        # next scan must read it again rather than call it unchanged.
        if stat is not None and not any(item.read_error for item in items):
            seen.append(stat)
    for error in outcome.errors:
        log.warning("no document stored for %a", error)
    document_ids = [item.document_id for item in outcome.report.items if item.document_id is not None]

    store_tokens(sessions, document_ids, model_path)

    # The batch row lock serializes job creation per batch: two tasks ingesting copies of the same content cannot
    # both create its (batch, document) job; the second finds the first's.
    with session_scope(sessions) as session:
        batch = get_batch(session, batch_id, for_update=True)
        record_files(session, seen)
        if links:  # the batch's own files, turned into links out of its roots since the walk: not read
            skipped = [store_skipped(session, *link) for link in links]
            outcome.report.items.extend(skipped)
            document_ids += [item.document_id for item in skipped if item.document_id is not None]
        own: list[int] = []
        if batch.status == BatchStatus.running:
            if batch.params.get("only_unsummarized"):  # the nightly run: a copy of a summarized file is done
                document_ids = without_summary(session, document_ids, batch)
            own = add_jobs(session, batch, document_ids)
        sent = files_done(session, batch, len(paths) + len(links), settings.chunk_size)
        # A redelivered task sends its own documents' queued jobs again: the delivery that died may have marked them
        # sent and died before sending. A job sent twice is summarized once.
        resend = set(own) - set(sent) - set(_never_sent(session, own))
        outcome.to_summarize = sent + sorted(resend)
    return outcome


def store_paths(
    settings: Settings, paths: Sequence[str | os.PathLike[str]], progress: Progress | None = None
) -> IngestReport:
    """`docsum ingest`: store the files, directories and archives under `paths` as documents, in this process, with
    no batch and no jobs (set the database up first: services.database.set_up). Never raises for a bad document."""
    return ingest_paths(open_sessions(settings), paths, settings, progress=progress)


def count_files(paths: Sequence[str | os.PathLike[str]]) -> int:
    """How many files `store_paths` will read under `paths` (archives count as one), for a progress bar."""
    return len(expand_paths(list(paths)))


def find_files(paths: Sequence[Path]) -> tuple[list[str], list[NotRead]]:
    """The files under `paths` by ingest's walking rules (sorted, hidden entries skipped, links out of a walked
    directory refused), resolved and without repeats; and the entries the walk did not read (links out, loops,
    dangling links, FIFOs, sockets, devices), each with its absolute path, reason and class."""
    files, skipped = walk_paths(list(paths))
    return (
        list(dict.fromkeys(str(p.resolve()) for p in files)),
        list(dict.fromkeys((str(p.absolute()), reason, failure) for p, reason, failure in skipped)),
    )


def check_paths(paths: Sequence[str], roots: Sequence[str] | None) -> tuple[list[str], list[str], list[NotRead]]:
    """(paths to read, paths not under any root, [(path, reason)] of paths under a root that now resolve out of
    every root: a link swapped in after the walk, refused as the walker refuses links out of its root). A root is
    a directory or a file the batch was given, resolved when the batch was made."""
    if roots is None:
        return list(paths), [], []
    read: list[str] = []
    foreign: list[str] = []
    links: list[NotRead] = []
    for path in paths:
        if not any(_within(os.path.abspath(path), root) for root in roots):
            foreign.append(path)
        elif not any(_within(os.path.realpath(path), root) for root in roots):
            reason = "a link out of the batch's roots (made after the walk): not read"
            links.append((path, reason, FailureClass.unsupported))
        else:
            read.append(path)
    return read, foreign, links


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def not_read_documents(session: Session, entries: Sequence[NotRead]) -> list[int]:
    """Record entries the walk did not read (a link out of the root, a loop, a FIFO, ...) as failed documents with
    their reason and class, in this transaction; returns their ids, for the batch's jobs."""
    ids = [store_skipped(session, *entry).document_id for entry in entries]
    return [i for i in ids if i is not None]


def files_done(session: Session, batch: Batch, n: int, chunk_size: int) -> list[int]:
    """Count n more files of the batch done and take the summarize work that is ready: whole chunks, or everything
    once the last file is in (call under the batch row lock). Returns job ids to enqueue after commit."""
    count_files_done(session, batch.id, n)
    session.refresh(batch, ["files_done", "files_total", "status"])
    if batch.status != BatchStatus.running:
        return []
    return dispatch(session, batch.id, chunk_size, everything=batch.files_done >= batch.files_total)


def count_unread_files(sessions: sessionmaker[Session], settings: Settings, batch_id: int, n: int) -> list[int]:
    """Count `n` files of the batch done without documents (an ingest task that failed as a whole and will not come
    back), so that the batch can finish; returns the jobs now ready to send."""
    with session_scope(sessions) as session:
        return files_done(session, get_batch(session, batch_id, for_update=True), n, settings.chunk_size)


def _never_sent(session: Session, job_ids: Sequence[int]) -> list[int]:
    return list(session.scalars(select(Job.id).where(Job.id.in_(list(job_ids)), Job.enqueued_at.is_(None))))


def fail_file(
    sessions: sessionmaker[Session],
    settings: Settings,
    batch_id: int,
    path: str,
    reason: str,
    failure: FailureClass,
) -> IngestOutcome:
    """Record a file as a failed document with `reason` and its class (without reading it), fail its job, count it
    done. Its stat is remembered, so the nightly run does not read the same poison file again until it changes."""
    outcome = IngestOutcome(batch_id=batch_id)
    stat = stat_file(path)
    item = store_source(sessions, Source(str(Path(path).absolute()), error=reason, failure=failure), settings)
    outcome.report.items.append(item)
    with session_scope(sessions) as session:
        batch = get_batch(session, batch_id, for_update=True)
        if batch.status == BatchStatus.running and item.document_id is not None:
            outcome.to_summarize = add_jobs(session, batch, [item.document_id])
        if stat is not None:
            record_files(session, [stat])
        outcome.to_summarize += files_done(session, batch, 1, settings.chunk_size)
    return outcome
