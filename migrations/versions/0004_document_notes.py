"""documents.notes: what extraction left out of a document that did extract

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A PDF past max_pdf_pages, or an HTML page cut before extraction, is stored as extracted, with the cut said here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("notes")
