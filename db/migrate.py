"""Alembic from code: `upgrade(url)` brings any database (SQLite file or PostgreSQL) to the latest schema, from any
working directory, without an alembic.ini."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from docsum.db.session import ensure_sqlite_dir, sqlite_file
from docsum.errors import DatabaseNotSetUp

# Wherever the package was installed from: the migrations folder of a checkout, or docsum/migrations in a wheel.
MIGRATIONS_DIR = Path(importlib.util.find_spec("docsum.migrations").submodule_search_locations[0])
# How long a process waits for another one's schema upgrade (a full upgrade of a large database takes minutes).
UPGRADE_LOCK_TIMEOUT_S = 600.0
# The PostgreSQL advisory lock key of docsum's schema upgrade (any fixed 64-bit number; this one spells "docsumdb").
UPGRADE_LOCK_KEY = 0x646F6373756D6462


def _url_string(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=False)


def alembic_config(url: str | URL) -> Config:
    """An Alembic Config for `url` with script_location set to this repository's migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # Not set_main_option("sqlalchemy.url"): configparser would choke on '%' in passwords. env.py reads this.
    config.attributes["url"] = _url_string(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> str | None:
    """Upgrade the database at `url` to `revision` (creating a SQLite file's directory); returns the new revision.

    Upgrades of one database are serialized across processes (`upgrade_lock`): of two `docsum run` started at once
    on a new file, one creates the schema and the other waits, then finds it done. A database already at the
    revision is not locked at all. An upgrade that fails raises DatabaseNotSetUp saying so, not a connection error.
    """
    ensure_sqlite_dir(url)
    if revision == "head" and current(url) == head():  # the usual start: nothing to do, nothing to wait for
        return current(url)
    with upgrade_lock(url):
        try:
            command.upgrade(alembic_config(url), revision)
        except SQLAlchemyError as err:
            shown = make_url(url).render_as_string(hide_password=True)
            first = (str(getattr(err, "orig", None) or err).strip().splitlines() or [type(err).__name__])[0]
            raise DatabaseNotSetUp(f"the schema upgrade of {shown} to {revision} failed: {first}") from err
    return current(url)


@contextmanager
def upgrade_lock(url: str | URL, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the database's schema-upgrade lock: a PostgreSQL advisory lock (it dies with the session), or for a
    SQLite file an OS lock on a file beside it (released by the OS when the process dies). Waits at most
    `timeout_s` (default UPGRADE_LOCK_TIMEOUT_S), then raises DatabaseNotSetUp."""
    timeout_s = UPGRADE_LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    shown = make_url(url).render_as_string(hide_password=True)
    busy = f"the schema upgrade of {shown} is held by another process for more than {timeout_s:.0f} s; try again"
    path = sqlite_file(url)
    if path is not None:
        try:
            with FileLock(f"{path}.upgrade-lock", timeout=timeout_s):
                yield
        except FileLockTimeout:
            raise DatabaseNotSetUp(busy) from None
        return
    if make_url(url).get_backend_name() != "postgresql":
        yield  # an in-memory SQLite database has one user
        return
    engine = create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'"))
            try:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
            except OperationalError as err:
                if getattr(err.orig, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout ran out
                    raise DatabaseNotSetUp(busy) from None
                raise
            conn.commit()  # the advisory lock belongs to the session, not to this transaction
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def downgrade(url: str | URL, revision: str = "base") -> str | None:
    """Downgrade the database at `url` to `revision` ("base" drops every table); returns the new revision."""
    command.downgrade(alembic_config(url), revision)
    return current(url)


def current(url: str | URL) -> str | None:
    """The revision the database at `url` is at; None for a database never upgraded (or a missing SQLite file)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None  # connecting would create an empty file
    engine = create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The latest revision in the migrations folder."""
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision
