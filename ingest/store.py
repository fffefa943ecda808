"""One Source → one stored document (or a duplicate of one), committed on its own.

Dedupe: by content SHA-256 when there are bytes (the unique column decides races between workers: the
loser's IntegrityError means "duplicate"); by (source_uri, error) when there are none. A stored failed
document whose bytes now extract (a better extractor) moves to extracted, as db.status allows.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.models import Document, DocumentStatus
from docsum.db.session import session_scope
from docsum.db.status import set_document_extracted, set_document_failed
from docsum.errors import FailureClass
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.sandbox import extract_isolated
from docsum.ingest.sniff import HEAD_BYTES, sniff_media_type
from docsum.ingest.sources import Source

log = logging.getLogger(__name__)

Outcome = Literal["ingested", "duplicate", "failed"]
MAX_URI_CHARS = 2048  # documents.source_uri


@dataclass
class IngestItem:
    source_uri: str
    outcome: Outcome
    document_id: int | None
    reason: str | None = None
    failure: FailureClass | None = None  # with a failed outcome's reason: its class
    read_error: bool = False  # its bytes could not be read (see Source.read_error): worth trying again unchanged


def _clean(value: str | None, max_len: int | None = None) -> str | None:
    """PostgreSQL text cannot hold NUL; bounded columns get a truncated value instead of an error."""
    if value is None:
        return None
    value = value.replace("\x00", "")
    return value[:max_len] if max_len else value


def _fill(document: Document, doc: Extracted) -> None:
    document.media_type = _clean(doc.media_type, 100)
    document.title = _clean(doc.title)
    document.author = _clean(doc.author)
    document.published = _clean(doc.published, 64)
    document.language = _clean(doc.language, 16)
    document.page_count = doc.page_count
    document.text = _clean(doc.text)
    document.sentences = [_clean(s) or "" for s in doc.sentences]
    document.notes = _clean(doc.notes)
    document.sentence_info = doc.sentence_info


def _extract(source: Source, settings: Settings) -> Extracted | ExtractionError:
    """The extracted document, or why it failed (never raises for a bad document)."""
    assert source.data is not None
    try:
        return extract_isolated(source.data, source.name, settings)
    except ExtractionError as err:
        return err
    except Exception as err:
        log.exception("extraction crashed on %s", source.uri)
        return ExtractionError(f"extraction error: {type(err).__name__}: {err}"[:1000], FailureClass.internal)


def _duplicate(uri: str, existing: Document) -> IngestItem:
    detail = f"same content as document {existing.id} ({existing.source_uri})"
    if existing.status == DocumentStatus.failed:
        detail += f", which failed: {existing.error}"
    return IngestItem(uri, "duplicate", existing.id, detail)


def _store_unreadable(sessions: sessionmaker[Session], source: Source, uri: str) -> IngestItem:
    with session_scope(sessions) as session:
        failure = source.failure or FailureClass.unreadable
        item = _unread_document(session, uri, _clean(source.error) or "unreadable", failure, source.byte_size)
    item.read_error = source.read_error
    return item


def _unread_document(
    session: Session, uri: str, error: str, failure: FailureClass, byte_size: int | None = None
) -> IngestItem:
    """A failed document without bytes: the one already stored for this path and reason, or a new one."""
    existing = session.scalars(
        select(Document)
        .where(Document.content_sha256.is_(None), Document.source_uri == uri, Document.error == error)
        .order_by(Document.id)
        .limit(1)
    ).first()
    if existing is not None:
        return _duplicate(uri, existing)
    document = Document(source_uri=uri, content_sha256=None, byte_size=byte_size)
    set_document_failed(session, document, error, failure)
    session.flush()
    return IngestItem(uri, "failed", document.id, error, failure)


def store_skipped(session: Session, uri: str, reason: str, failure: FailureClass) -> IngestItem:
    """Record an entry the walker did not read (a link out of its root, a loop, a FIFO, ...) as a failed document
    with its reason, in the caller's transaction, so that a batch can show it; the same path and reason again is
    the same document. Nothing is read."""
    uri = _clean(uri) or ""
    if len(uri) > MAX_URI_CHARS:
        return _too_long(uri)
    reason = _clean(reason) or "not read"
    return IngestItem(uri, "failed", _unread_document(session, uri, reason, failure).document_id, reason, failure)


def _too_long(uri: str) -> IngestItem:
    """A path that no column can hold whole: cut, it would name another file, or none; refused, and said so."""
    reason = f"path longer than {MAX_URI_CHARS} characters ({len(uri)}): not stored"
    return IngestItem(uri, "failed", None, reason, FailureClass.unsupported)


def _by_hash(sessions: sessionmaker[Session], sha: str) -> Document | None:
    with session_scope(sessions) as session:
        return session.scalars(select(Document).where(Document.content_sha256 == sha)).first()


def _retry_failed(sessions: sessionmaker[Session], existing: Document, result: Extracted, uri: str) -> IngestItem:
    with session_scope(sessions) as session:
        document = session.get(Document, existing.id)
        if document is None or document.status != DocumentStatus.failed:  # another worker got there first
            return _duplicate(uri, document or existing)
        _fill(document, result)
        set_document_extracted(session, document)
        return IngestItem(uri, "ingested", document.id, f"re-extracted (previously failed: {existing.error})")


def store_source(sessions: sessionmaker[Session], source: Source, settings: Settings) -> IngestItem:
    """Store one source as a document and commit; returns what happened to it."""
    uri = _clean(source.uri) or ""
    if len(uri) > MAX_URI_CHARS:
        return _too_long(uri)
    if source.data is None:
        if not source.store:
            return IngestItem(uri, "failed", None, source.error, source.failure)
        return _store_unreadable(sessions, source, uri)

    sha = hashlib.sha256(source.data).hexdigest()
    existing = _by_hash(sessions, sha)
    if existing is not None and existing.status == DocumentStatus.extracted:
        return _duplicate(uri, existing)
    # Extract outside any transaction: it can take seconds, and holds no database connection meanwhile.
    result = _extract(source, settings)
    if existing is not None:
        failed = isinstance(result, ExtractionError)
        return _duplicate(uri, existing) if failed else _retry_failed(sessions, existing, result, uri)

    document = Document(source_uri=uri, content_sha256=sha, byte_size=source.byte_size)
    try:
        with session_scope(sessions) as session:
            if isinstance(result, ExtractionError):
                document.media_type = sniff_media_type(source.data[:HEAD_BYTES], source.name)
                set_document_failed(session, document, _clean(result.reason) or "failed", result.failure)
            else:
                _fill(document, result)
                set_document_extracted(session, document)
            session.flush()
    except IntegrityError:
        # Another worker inserted the same bytes between our lookup and our insert.
        winner = _by_hash(sessions, sha)
        if winner is None:
            raise
        return _duplicate(uri, winner)
    if isinstance(result, ExtractionError):
        return IngestItem(uri, "failed", document.id, result.reason, result.failure)
    return IngestItem(uri, "ingested", document.id, None)
