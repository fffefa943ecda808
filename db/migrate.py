"""Alembic from code: `upgrade(url)` brings any database (SQLite file or PostgreSQL) to the latest schema, from any
working directory, without an alembic.ini."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.pool import NullPool

from docsum.db.session import ensure_sqlite_dir, sqlite_file

# Wherever the package was installed from: the migrations folder of a checkout, or docsum/migrations in a wheel.
MIGRATIONS_DIR = Path(importlib.util.find_spec("docsum.migrations").submodule_search_locations[0])


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
    """Upgrade the database at `url` to `revision` (creating a SQLite file's directory); returns the new revision."""
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
    return current(url)


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
