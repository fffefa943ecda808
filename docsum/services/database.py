"""The database as the layers above see it: set it up, tell whether it is set up, open sessions on it, and say
what an error of it means.

What an error means comes from its message (SQLite's and PostgreSQL's wording): busy, full, read-only, a file that
cannot be opened, or a server that cannot be reached; and whether waiting can cure it. The CLI turns it into its one
`error:` line; the workers use it to stop retrying what no retry will cure (a full disk retried with backoff kept a
batch waiting for half an hour, and its client polling forever).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from docsum.config import Settings

# SQLAlchemy and Alembic load on first use: the CLI reads this module's error table on every start.


def set_up(url: str) -> None:
    """Create or upgrade docsum's schema (Alembic, under a lock: two processes at once are safe)."""
    from docsum.db.migrate import upgrade

    upgrade(url)


def is_set_up(url: str) -> bool:
    """Whether the database holds docsum's schema (never creates anything, not even an empty SQLite file)."""
    from docsum.db.migrate import current

    return current(url) is not None


def open_sessions(url_or_settings: str | Settings) -> sessionmaker[Session]:
    """A session factory on the database (one engine per URL, shared)."""
    from docsum.db.session import make_session_factory

    return make_session_factory(url_or_settings)


@dataclass(frozen=True)
class DatabaseTrouble:
    message: str  # one line for a person: what happened and what to check
    lasting: bool  # a retry in a few seconds will meet it again (disk full, read-only, no file)


# Most specific first; anything else is a connection that failed, which may come back.
_KINDS = (
    (
        ("database is locked", "could not obtain lock", "lock timeout", "deadlock detected"),
        "the database is busy: {} (another process holds a lock on it; try again when it is done)",
        False,
    ),
    (
        ("database or disk is full", "no space left on device", "disk i/o error", "could not extend file"),
        "the database cannot write: {} (is its disk full?)",
        True,
    ),
    (
        ("readonly database", "read-only", "permission denied"),
        "the database refuses writes: {} (check the permissions of the database or its file)",
        True,
    ),
    (
        ("unable to open database file",),
        "cannot open the database file: {} (check DOCSUM_DATABASE_URL, and that its folder exists and is writable)",
        True,
    ),
)


def first_line(error: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's wrapper with the SQL and its parameters), first line only."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def database_trouble(error: BaseException) -> DatabaseTrouble:
    """What `error` (a SQLAlchemy OperationalError or InterfaceError, or a driver's error) means."""
    message = first_line(error)
    lowered = message.lower()
    for needles, template, lasting in _KINDS:
        if any(needle in lowered for needle in needles):
            return DatabaseTrouble(template.format(message), lasting)
    return DatabaseTrouble(
        f"cannot reach the database: {message} (check DOCSUM_DATABASE_URL and that the server is up)", False
    )
