"""documents.token_key and documents.tokens: sentences tokenized ahead at ingest

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

`tokens` holds each stored sentence's word count and token ids (JSON), `token_key` the fingerprint of the tokenizer
and word cut they were made with. Existing rows keep NULL: the summarize worker tokenizes those itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("token_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("tokens", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("tokens")
        batch.drop_column("token_key")
