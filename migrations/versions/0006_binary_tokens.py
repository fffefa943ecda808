"""documents.token_ids: sentences tokenized ahead, stored as int32 records instead of JSON

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Reading a chunk's tokens back was most of a summarize worker's CPU time per document (a JSON parse of about a
thousand integers); the binary form is read as one numpy view. Layout, little-endian int32 throughout:
[format 1, n] [word count x n] [token count x n] [token ids of every sentence, in order].

Existing tokens are converted, not dropped, so an archive tokenized ahead stays fast after the upgrade; a value that
does not convert (damaged) is left out, and the summarize worker tokenizes that document itself. The layout code is
spelled out here, not imported, so this revision keeps its meaning. Runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_INT32 = np.dtype("<i4")


def _to_bytes(tokens: dict) -> bytes | None:
    try:
        words, ids = tokens["words"], tokens["ids"]
        if len(words) != len(ids):
            return None
        head = np.array([1, len(words), *words, *(len(piece) for piece in ids)], dtype=_INT32)
        return head.tobytes() + np.fromiter(chain.from_iterable(ids), dtype=_INT32).tobytes()
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _to_json(data: bytes, fingerprint: str | None) -> dict | None:
    raw = np.frombuffer(data, dtype=_INT32) if len(data) % 4 == 0 else np.array([], dtype=_INT32)
    if len(raw) < 2 or int(raw[0]) != 1:
        return None
    n = int(raw[1])
    lengths = raw[2 + n : 2 + 2 * n].tolist()
    flat = raw[2 + 2 * n :].tolist()
    ends = np.cumsum(lengths).tolist()
    ids = [flat[a:b] for a, b in zip([0, *ends[:-1]] if n else [], ends, strict=True)]
    return {"fingerprint": fingerprint, "words": raw[2 : 2 + n].tolist(), "ids": ids}


def _convert(source: sa.Column, target: sa.Column, table: sa.TableClause, convert) -> None:
    """Copy `source` into `target` through `convert`, in id order, a page at a time (archives are large)."""
    conn = op.get_bind()
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.token_key, source)
            .where(table.c.id > last_id, source.is_not(None))
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        values = [{"row_id": i, "value": convert(value, key)} for i, key, value in rows]
        values = [v for v in values if v["value"] is not None]
        if values:
            conn.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("row_id"))
                .values({target.name: sa.bindparam("value")}),
                values,
            )
        last_id = rows[-1][0]


def _documents(*columns: sa.ColumnClause) -> sa.TableClause:
    return sa.table("documents", sa.column("id", sa.Integer()), sa.column("token_key", sa.String()), *columns)


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("token_ids", sa.LargeBinary(), nullable=True))
    documents = _documents(sa.column("tokens", sa.JSON()), sa.column("token_ids", sa.LargeBinary()))
    _convert(
        documents.c.tokens,
        documents.c.token_ids,
        documents,
        lambda value, _key: _to_bytes(json.loads(value) if isinstance(value, str) else value),
    )
    # Documents whose tokens did not convert lose their fingerprint too, so that "needs tokens" finds them again.
    op.execute("UPDATE documents SET token_key = NULL WHERE token_ids IS NULL")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("tokens")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("tokens", sa.JSON(), nullable=True))
    documents = _documents(sa.column("tokens", sa.JSON()), sa.column("token_ids", sa.LargeBinary()))
    _convert(documents.c.token_ids, documents.c.tokens, documents, lambda value, key: _to_json(bytes(value), key))
    op.execute("UPDATE documents SET token_key = NULL WHERE tokens IS NULL")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("token_ids")
