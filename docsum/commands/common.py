"""What every command module shares: consoles and the one way a command fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # messages stay one line each, greppable in logs


def stdout_console() -> Console:
    """Tables and results go to stdout; progress and notes to stderr."""
    from rich.console import Console

    return Console()


def user_text(text: str) -> str:
    """User text (a file name, a title, a summary, an error) for a console: never read as markup, and its control
    characters escaped, so that a name cannot drive the terminal or split a table row."""
    from rich.markup import escape

    from docsum.services.display import printable

    return escape(printable(text))


def fail(message: str) -> typer.Exit:
    """Print `error: message` (user text is never read as markup) and return the Exit to raise."""
    err_console().print(f"[red]error:[/red] {user_text(message)}")
    return typer.Exit(code=2)


def require_broker() -> str:
    from docsum.config import get_settings

    url = get_settings().broker_url
    if not url:
        raise fail(
            "DOCSUM_BROKER_URL is not set. Workers, beat and Flower need Redis (e.g. redis://127.0.0.1:6379/0); "
            "without it, `docsum run` works alone with an in-process worker."
        )
    return url


def require_schema() -> None:
    """Reading commands never create a database: an empty one is an error, not a fresh schema."""
    from sqlalchemy.engine import make_url

    from docsum.config import get_settings
    from docsum.errors import DatabaseNotSetUp
    from docsum.services.database import is_set_up

    settings = get_settings()
    url = settings.database_url
    if not is_set_up(url):
        shown = make_url(url).render_as_string(hide_password=True)
        # Only the embedded mode creates its database on first use; a fleet's is set up once, by `docsum db upgrade`.
        creates = (
            "`docsum db upgrade` creates one"
            if settings.broker_url
            else "`docsum run` or `docsum db upgrade` creates one"
        )
        raise DatabaseNotSetUp(f"no docsum database at {shown} ({creates})")
