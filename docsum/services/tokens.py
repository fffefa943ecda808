"""Sentences tokenized ahead: done where documents are stored (CPU ingest workers), so that a GPU worker only packs
windows. Kept apart from the ingest step so that it can run without the extraction libraries."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from docsum.bertsum.preprocess import tokenize_sentences
from docsum.db.models import Document, DocumentStatus
from docsum.db.session import session_scope
from docsum.services.models import token_plan

log = logging.getLogger(__name__)


def store_tokens(sessions: sessionmaker[Session], document_ids: Sequence[int], model_path: str | None) -> int:
    """Tokenize the documents' sentences for the batch's model, here on the CPU workers, so that a GPU worker only
    packs windows. Documents that already have tokens under this fingerprint are skipped. Best effort: without
    tokens the summarize worker tokenizes itself, so a failure here costs speed, never a document. Returns how many
    documents got tokens."""
    if not document_ids:
        return 0
    try:
        plan = token_plan(model_path)
        if plan is None:
            return 0
        with session_scope(sessions) as session:
            todo = session.execute(
                select(Document.id, Document.sentences).where(
                    Document.id.in_(list(document_ids)),
                    Document.status == DocumentStatus.extracted,
                    (Document.token_key.is_(None)) | (Document.token_key != plan.fingerprint),
                )
            ).all()
            if not todo:
                return 0
            tokens = tokenize_sentences([s or [] for _, s in todo], plan.encode, plan.fingerprint, plan.max_words)
            session.execute(
                update(Document),
                [{"id": i, "token_key": t.fingerprint, "token_ids": t.to_bytes()} for (i, _), t in zip(todo, tokens)],
            )
            return len(todo)
    except Exception:  # speed only: the documents and their jobs are unaffected
        log.warning(
            "could not tokenize %d documents ahead; the summarize worker will", len(document_ids), exc_info=True
        )
        return 0
