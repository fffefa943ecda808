"""The ingest entry points (contract: docs/ARCHITECTURE.md, "Ingest"): paths in, stored documents out.

Each document is committed on its own, so one failing never rolls back another, and a bad document
becomes a failed row with a reason instead of an exception.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.session import session_scope
from docsum.errors import FailureClass
from docsum.ingest.sources import Source, expand_paths, file_sources, walk_paths
from docsum.ingest.store import IngestItem, Outcome, store_skipped, store_source

log = logging.getLogger(__name__)

# Called after each input file with the file and what became of its documents (one, or an archive's members).
Progress = Callable[[Path, list[IngestItem]], None]

__all__ = ["IngestItem", "IngestReport", "Outcome", "Progress", "expand_paths", "ingest_file", "ingest_paths"]


@dataclass
class IngestReport:
    items: list[IngestItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """{"ingested": n, "duplicate": n, "failed": n}, zeros included."""
        counted = Counter(item.outcome for item in self.items)
        return {outcome: counted.get(outcome, 0) for outcome in ("ingested", "duplicate", "failed")}

    @property
    def failures(self) -> list[IngestItem]:
        return [item for item in self.items if item.outcome == "failed"]


def ingest_file(sessions: sessionmaker[Session], path: str | os.PathLike[str], settings: Settings) -> list[IngestItem]:
    """Ingest one file (an archive gives one item per member); what an ingest task calls."""
    path = Path(path)
    items: list[IngestItem] = []
    try:
        for source in file_sources(path, settings):
            items.append(store_source(sessions, source, settings))
    except Exception as err:  # a reader bug or an I/O error mid-archive: record it, keep the items stored so far
        if _is_database_error(err):
            raise
        log.exception("reading %s failed", path)
        reason = f"unreadable: {type(err).__name__}: {err}"[:1000]
        source = Source(str(path.absolute()), error=reason, failure=FailureClass.unreadable)
        items.append(store_source(sessions, source, settings))
    return items


def ingest_paths(
    sessions: sessionmaker[Session],
    paths: Sequence[str | os.PathLike[str]],
    settings: Settings,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files, directories (recursive, sorted) and archives; never raises for a bad document."""
    report = IngestReport()
    files, skipped = walk_paths(list(paths))
    for entry, reason, failure in skipped:  # the entry is recorded with its reason; nothing behind it is read
        log.warning("not read: %a: %a", str(entry), reason)  # %a: a name's control characters stay escaped in logs
        with session_scope(sessions) as session:
            report.items.append(store_skipped(session, str(entry.absolute()), reason, failure))
    for path in files:
        items = ingest_file(sessions, path, settings)
        report.items.extend(items)
        if progress is not None:
            progress(path, items)
    return report


def _is_database_error(err: Exception) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(err, SQLAlchemyError)
