"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL, and run both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from docsum.db.migrate import current, downgrade, head, upgrade
from docsum.db.models import Base

TABLES = {"documents", "batches", "jobs", "summaries", "archive_files"}


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(any_db_url: str) -> None:
    assert _diff(any_db_url)  # an empty database differs (sanity: the comparison can see differences)
    assert upgrade(any_db_url) == head()
    assert _diff(any_db_url) == []


def test_downgrade_to_base_and_upgrade_again(any_db_url: str) -> None:
    upgrade(any_db_url)
    assert _tables(any_db_url) == TABLES
    assert downgrade(any_db_url, "base") is None
    assert _tables(any_db_url) == set()
    assert current(any_db_url) is None
    upgrade(any_db_url)
    assert _tables(any_db_url) == TABLES
    assert _diff(any_db_url) == []


def test_schema_details_both_backends(any_db_url: str) -> None:
    upgrade(any_db_url)
    engine = create_engine(any_db_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        uniques = {t: {tuple(u["column_names"]) for u in insp.get_unique_constraints(t)} for t in TABLES}
        assert ("content_sha256",) in uniques["documents"]
        assert ("batch_id", "document_id") in uniques["jobs"]
        assert ("job_id",) in uniques["summaries"]
        indexes = {tuple(i["column_names"]) for i in insp.get_indexes("summaries")}
        assert ("document_id", "model_id", "params_key") in indexes
        fks = {fk["name"]: fk for fk in insp.get_foreign_keys("summaries")}
        assert fks["fk_summaries_job_id_jobs"]["options"].get("ondelete") == "CASCADE"
    finally:
        engine.dispose()


def test_upgrade_creates_sqlite_directory(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'nested' / 'docsum.db'}"
    assert current(url) is None
    assert not (tmp_path / "var").exists()  # reading the revision did not create the file
    upgrade(url)
    assert (tmp_path / "var" / "nested" / "docsum.db").is_file()
    assert _tables(url) == TABLES
