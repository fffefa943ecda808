"""Alembic environment. Configured from code by db.migrate.alembic_config (no alembic.ini needed).

The URL comes from `config.attributes["url"]` (never parsed by configparser, so passwords with % survive), or a
caller hands over an open connection in `config.attributes["connection"]`; the plain `alembic` command with the
repo-root alembic.ini falls back to the settings (DOCSUM_DATABASE_URL).
"""

from __future__ import annotations

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, Enum, create_engine, make_url
from sqlalchemy.pool import NullPool

from docsum.db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | bool:
    """Autogenerate writes plain column types, so revisions never import db.models (they must outlive it)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    return False


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        **kwargs,
    )


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    # The plain `alembic` command (repo-root alembic.ini, e.g. `alembic revision --autogenerate`): DOCSUM_DATABASE_URL.
    from docsum.config import get_settings

    return get_settings().database_url


def run_migrations_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=make_url(url).get_backend_name() == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = make_url(_url())
    # Own short-lived engine: no SQLite foreign-key pragma here, which batch-mode table rebuilds need off.
    connect_args = {"timeout": 30.0} if url.get_backend_name() == "sqlite" else {}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
