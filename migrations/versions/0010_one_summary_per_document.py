"""summaries: at most one per document, model and parameters, enforced by a unique index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

A run killed and started again, or two runs over the same files, summarized the same documents again and stored a
second summary of each from the same model. The index that answered "has this document a summary for this model
and parameters?" becomes unique, so the database refuses a second one whatever the code does; workers write a
summary as an upsert (the latest replaces it, as `docsum run --force` asks). Existing duplicates are removed first,
keeping the earliest summary of each document, model and parameters: its jobs still show it, since results find a
succeeded job's summary by document, model and parameters. Runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_summaries_document_id_model_id_params_key"
_COLUMNS = ["document_id", "model_id", "params_key"]


def upgrade() -> None:
    op.execute(
        sa.text(
            "DELETE FROM summaries WHERE id NOT IN ("
            " SELECT MIN(id) FROM summaries GROUP BY document_id, model_id, params_key)"
        )
    )
    op.drop_index(_INDEX, table_name="summaries")
    op.create_index(_INDEX, "summaries", _COLUMNS, unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="summaries")
    op.create_index(_INDEX, "summaries", _COLUMNS)
