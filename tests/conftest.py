"""Shared fixtures: real PostgreSQL and Redis, the SQLite embedded default, and ../shared/data.

Tests touch only what they create: each test that needs a database gets its own freshly created PostgreSQL database
(dropped afterwards), and Redis is a private `redis-server` this session starts on a free port (no persistence,
stopped at the end), so a developer's own Redis on 6379 is never written to or flushed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import servers
from servers import RedisServer

from docsum.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Settings().shared_data  # DOCSUM_SHARED_DATA, else ../shared/data beside the checkout
PG_ADMIN_URL = os.environ.get("DOCSUM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_DATABASES = 256  # db numbers of the session's private server: one per test that asks for a Redis URL


def require_shared_data() -> Path:
    """../shared/data, or a skip with a reason on a user's fresh clone; under CI its absence is a failure."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if IN_CI:
        pytest.fail(f"CI=true but shared data is missing at {SHARED_DATA}")
    pytest.skip(f"needs ../shared/data (not found at {SHARED_DATA}); set DOCSUM_SHARED_DATA")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


def create_pg_database(prefix: str = "docsum_test") -> str:
    """Create an empty PostgreSQL database and return its URL."""
    return servers.create_pg_database(PG_ADMIN_URL, prefix)


def drop_pg_database(url: str) -> None:
    servers.drop_pg_database(PG_ADMIN_URL, url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no tables) for one test."""
    with servers.pg_database(PG_ADMIN_URL, "docsum_test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'docsum.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on the embedded default (SQLite) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'docsum.db'}"
    else:
        with servers.pg_database(PG_ADMIN_URL, "docsum_test") as url:
            yield url


def start_redis_server(workdir: Path) -> RedisServer:
    """The session's private redis-server (or the fleet's own); its absence fails the test, never skips it."""
    try:
        return RedisServer(workdir, databases=REDIS_DATABASES)
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL on an unused db number of the session's private server."""
    return redis_server.new_db_url()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: CI must never pass by skipping. (CUDA tests are deselected by
    `make test` with `-m "not cuda"`, not skipped; bench/gpu_check.sh runs them on a GPU machine.)"""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(
                f"CI=true: {skipped} test(s) skipped; failing the run (see the skip reasons above)", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
