"""documents.failure_class and jobs.failure_class: why a row failed, as data beside the readable reason

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Until now the class of a failure (unreadable, too large, timed out, ...) was guessed from the wording of `error`
whenever a report or a metric needed it. Ingest and the workers now store it when they fail a row. Rows that failed
before get their class from their reason, once, here: the wording of the releases that wrote them is known, and is
spelled out below so that this revision keeps its meaning whatever later code says. A reason none of them matches
becomes "other". One UPDATE per table, in the database; runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("documents", "jobs")

# What the releases before this one wrote, first match wins: (class, LIKE patterns on the lower-cased reason).
_EARLIER_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timeout", ("%time limit%",)),
    ("poison", ("%gave up after%",)),
    ("too_large", ("%oversized%", "%archive has % members%", "%too large%", "%limit%")),
    ("unsupported", ("%unsupported%", "%nested archive%", "%encrypted%", "%no text layer%")),
    ("no_text", ("%no text%", "%document has no sentences%", "%empty file%")),
    ("unreadable", ("%corrupt%", "%unreadable%", "%not a regular file%", "%not found%")),
    ("model", ("%summarize failed%", "%model % could not be loaded%")),
    ("internal", ("%internal error%",)),
)


def _backfill(table: str) -> None:
    rows = sa.table(table, sa.column("status", sa.String()), sa.column("error", sa.Text()), sa.column("failure_class"))
    reason = sa.func.lower(sa.func.coalesce(rows.c.error, ""))
    whens = [(sa.or_(*(reason.like(p) for p in patterns)), name) for name, patterns in _EARLIER_REASONS]
    op.get_bind().execute(
        sa.update(rows)
        .where(rows.c.status == "failed", rows.c.failure_class.is_(None))
        .values(failure_class=sa.case(*whens, else_="other"))
    )


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("failure_class", sa.String(16), nullable=True))
        _backfill(table)


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("failure_class")
