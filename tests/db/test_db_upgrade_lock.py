"""Concurrent starts are safe: processes upgrading the same new database at once (two `docsum run` on a new SQLite
file) are serialized by a lock on the database, and all of them end with the schema at head; a process that cannot
get the lock in time says so instead of blaming the connection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from docsum.db.migrate import current, head, upgrade_lock

UPGRADE = "import sys; from docsum.db.migrate import upgrade; upgrade(sys.argv[1])"
PROCESSES = 3


def upgrade_at_once(url: str, code: str = UPGRADE) -> list[subprocess.CompletedProcess[str]]:
    started = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


@pytest.mark.parametrize("round_", range(2))
def test_processes_upgrading_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path, round_: int) -> None:
    url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
    for done in upgrade_at_once(url):
        assert done.returncode == 0, done.stderr
    assert current(url) == head()


def test_processes_upgrading_a_new_postgresql_database_at_once_all_succeed(pg_url: str) -> None:
    for done in upgrade_at_once(pg_url):
        assert done.returncode == 0, done.stderr
    assert current(pg_url) == head()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_upgrade_that_cannot_get_the_lock_says_so(backend: str, tmp_path: Path, request) -> None:
    url = f"sqlite:///{tmp_path / 'held.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    waiting = (
        "import sys; from docsum.db import migrate; migrate.UPGRADE_LOCK_TIMEOUT_S = 1.0\n"
        "try:\n    migrate.upgrade(sys.argv[1])\n"
        "except migrate.DatabaseNotSetUp as err:\n    print(err); sys.exit(3)\n"
    )
    with upgrade_lock(url):
        done = subprocess.run([sys.executable, "-c", waiting, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "schema upgrade of" in done.stdout and "held by another process for more than 1 s" in done.stdout
    assert current(url) is None  # the waiting process changed nothing
