"""documents: large columns compressed with lz4 on PostgreSQL servers built with it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

A summarize worker reads hundreds of documents a second (their sentences, sentence records and stored tokens), and
PostgreSQL decompresses each of those values on the way out. lz4 decompresses several times faster than the
default pglz: reading a chunk's documents takes about a quarter less server time. Values written before keep the
compression they were written with until they are written again. A server built without lz4 (or SQLite) is left
as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("text", "sentences", "sentence_info", "token_ids")


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    # Compression methods are a build option: the setting lists the ones this server has (PostgreSQL 14 and later).
    query = sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    return bool(bind.execute(query).scalar())


def _set(method: str) -> None:
    if _lz4_available():
        for column in COLUMNS:
            op.execute(f"ALTER TABLE documents ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("default")
