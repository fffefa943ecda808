"""sentence citations: documents.sentence_info (span, page, candidate, OCR per sentence) and summaries.note

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Existing documents are backfilled from their stored text: each sentence's character span (its words found in order,
any whitespace between them) and, for PDFs, its page (form feeds separate pages in the stored text). The candidate
flag ("skip") is left out of backfilled records, and the summarize path classifies such documents with the current
rule when it reads them; the alignment code is spelled out here, not imported, so this revision keeps its meaning.
Runs unchanged on SQLite and PostgreSQL (plain JSON and TEXT columns, row-by-row updates through SQLAlchemy Core).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200
_PDF = "application/pdf"


def _spans(text: str, sentences: Sequence[str]) -> list[tuple[int, int]] | None:
    """Spans of the sentences in order, or None if one is not found (then the row is left without info)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for sentence in sentences:
        words = str(sentence).split()
        if not words:
            spans.append((pos, pos))
            continue
        match = re.compile(r"\s+".join(re.escape(w) for w in words)).search(text, pos)
        if match is None:
            return None
        spans.append((match.start(), match.end()))
        pos = match.end()
    return spans


def _info(text: str, sentences: Sequence[str], paged: bool) -> list[dict] | None:
    spans = _spans(text, sentences)
    if spans is None:
        return None
    starts = [0] + [m.end() for m in re.finditer("\f", text)]
    return [
        {"start": start, "end": end, "page": bisect_right(starts, start) if paged else None, "ocr": False}
        for start, end in spans
    ]


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("sentence_info", sa.JSON(), nullable=True))
    with op.batch_alter_table("summaries") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))

    documents = sa.table(
        "documents",
        sa.column("id", sa.Integer()),
        sa.column("media_type", sa.String()),
        sa.column("text", sa.Text()),
        sa.column("sentences", sa.JSON()),
        sa.column("sentence_info", sa.JSON()),
    )
    conn = op.get_bind()
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(documents.c.id, documents.c.media_type, documents.c.text, documents.c.sentences)
            .where(documents.c.id > last_id, documents.c.sentences.is_not(None), documents.c.text.is_not(None))
            .order_by(documents.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for doc_id, media_type, text, sentences in rows:
            info = _info(text, sentences or [], paged=media_type == _PDF)
            if info is not None:
                conn.execute(sa.update(documents).where(documents.c.id == doc_id).values(sentence_info=info))
        last_id = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("summaries") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("sentence_info")
