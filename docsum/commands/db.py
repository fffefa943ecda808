"""`docsum db ...` commands: bring the configured database (DOCSUM_DATABASE_URL) to the latest schema."""

from __future__ import annotations

import typer

commands = typer.Typer(
    help="Database schema: upgrade to the latest revision, show the current one.", no_args_is_help=True
)


def _safe_url() -> str:
    from sqlalchemy import make_url

    from docsum.config import get_settings

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def _expected_errors() -> tuple[type[Exception], ...]:
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, CommandError, OSError)


@commands.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision (default: the latest).")) -> None:
    """Create or upgrade the tables (a SQLite file's directory is created if missing)."""
    from docsum.config import get_settings
    from docsum.db import migrate

    url = get_settings().database_url
    try:
        now = migrate.upgrade(url, revision)
    except _expected_errors() as exc:  # the reason, not a traceback: a wrong URL, an unreachable server, a bad revision
        typer.echo(f"error: cannot upgrade {_safe_url()}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{_safe_url()} is at revision {now} (head {migrate.head()})")


@commands.command()
def current() -> None:
    """Show the database's revision ("none" if it was never upgraded)."""
    from docsum.config import get_settings
    from docsum.db import migrate

    try:
        rev = migrate.current(get_settings().database_url)
    except _expected_errors() as exc:
        typer.echo(f"error: cannot read {_safe_url()}: {exc}", err=True)
        raise typer.Exit(1) from exc
    head = migrate.head()
    note = "up to date" if rev == head else f"behind head {head}: run `docsum db upgrade`"
    typer.echo(f"{_safe_url()}: revision {rev or 'none'} ({note})")


def register(app: typer.Typer) -> None:
    """Add the `docsum db ...` group."""
    app.add_typer(commands, name="db")
