"""batches.final_seq and jobs.final_seq: a commit-ordered change marker, so that following a batch reads only what
changed since the last look

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Every transaction that makes jobs final bumps its batch's counter under the batch row's lock and stamps the new value
on those jobs, so the markers follow the commits. Jobs that were already final get marker 1 here, and their batches
counter 1: a reader starting at 0 sees them all at its first look, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FINAL = ("succeeded", "failed", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("final_seq", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("final_seq", sa.BigInteger(), nullable=True))
        batch.create_index("ix_jobs_batch_id_final_seq", ["batch_id", "final_seq"])
    jobs = sa.table("jobs", sa.column("batch_id"), sa.column("status", sa.String()), sa.column("final_seq"))
    batches = sa.table("batches", sa.column("id"), sa.column("final_seq"))
    bind = op.get_bind()
    bind.execute(sa.update(jobs).where(jobs.c.status.in_(_FINAL)).values(final_seq=1))
    has_final = sa.select(jobs.c.batch_id).where(jobs.c.final_seq == 1)
    bind.execute(sa.update(batches).where(batches.c.id.in_(has_final)).values(final_seq=1))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_batch_id_final_seq")
        batch.drop_column("final_seq")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("final_seq")
