"""`docsum db upgrade` / `docsum db current` as a user runs them: the installed script, from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from docsum.db.migrate import head

DOCSUM = Path(sys.executable).parent / "docsum"


def _docsum(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSUM_DATABASE_URL": url}
    return subprocess.run([str(DOCSUM), "db", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_cli_upgrade_creates_tables(any_db_url: str, tmp_path: Path) -> None:
    before = _docsum(any_db_url, "current", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "revision none" in before.stdout

    result = _docsum(any_db_url, "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"at revision {head()}" in result.stdout
    assert {"documents", "batches", "jobs", "summaries", "alembic_version"} <= _tables(any_db_url)

    after = _docsum(any_db_url, "current", cwd=tmp_path)
    assert f"revision {head()} (up to date)" in after.stdout


def test_cli_upgrade_creates_sqlite_var_dir(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'docsum.db'}"
    result = _docsum(url, "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "docsum.db").is_file()


def test_cli_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/nowhere"
    result = _docsum(url, "upgrade", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot upgrade" in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr  # the password is masked
