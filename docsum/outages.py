"""What the CLI says when a service is down or a setting is wrong: one line starting with `error:`, what to do about
it, and an exit code per kind of trouble (scripts and cron can tell them apart), instead of a traceback.

Exit codes: 1 an unexpected error (a bug: Python's own code, with its traceback; a few commands' own failures),
2 bad usage or input (typer's, commands' `fail`), 3 database unreachable or not set up, 4 broker unreachable,
5 invalid setting, 6 the batch ended but some of its documents failed (`run`, `nightly`, `retry --wait`: the
work was done, each failure is in the results with its reason).
"""

from __future__ import annotations

from docsum.errors import BrokerUnavailable, DatabaseNotSetUp, InvalidSetting, ModelNotFound

EXIT_INPUT = 2
EXIT_DATABASE = 3
EXIT_BROKER = 4
EXIT_SETTINGS = 5
EXIT_SOME_FAILED = 6


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# What a database error means for the user, by its message (SQLite's and PostgreSQL's wording), most specific first.
# Anything else is a connection that failed.
_DATABASE_TROUBLE = (
    (
        ("database is locked", "could not obtain lock", "lock timeout", "deadlock detected"),
        "the database is busy: {} (another process holds a lock on it; try again when it is done)",
    ),
    (
        ("database or disk is full", "no space left on device", "disk i/o error", "could not extend file"),
        "the database cannot write: {} (is its disk full?)",
    ),
    (
        ("readonly database", "read-only", "permission denied"),
        "the database refuses writes: {} (check the permissions of the database or its file)",
    ),
    (
        ("unable to open database file",),
        "cannot open the database file: {} (check DOCSUM_DATABASE_URL, and that its folder exists and is writable)",
    ),
)


def _database_trouble(message: str) -> str:
    lowered = message.lower()
    for needles, template in _DATABASE_TROUBLE:
        if any(needle in lowered for needle in needles):
            return template.format(message)
    return f"cannot reach the database: {message} (check DOCSUM_DATABASE_URL and that the server is up)"


def describe(err: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for a known outage or misconfiguration; None for anything else (a bug)."""
    import kombu.exceptions
    import redis.exceptions
    import sqlalchemy.exc
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(err, DatabaseNotSetUp):
        return EXIT_DATABASE, f"{err}"
    if isinstance(err, BrokerUnavailable):
        return EXIT_BROKER, f"{err}"
    if isinstance(err, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return EXIT_DATABASE, _database_trouble(_first_line(err))
    broker_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError)
    if isinstance(err, broker_errors):
        return EXIT_BROKER, (
            f"cannot reach the broker: {_first_line(err)} (check DOCSUM_BROKER_URL and that Redis is up)"
        )
    if isinstance(err, (ValidationError, SettingsError)):
        from docsum.config import describe as describe_setting

        return EXIT_SETTINGS, f"invalid setting: {describe_setting(err)}"
    if isinstance(err, InvalidSetting):
        return EXIT_SETTINGS, f"invalid setting: {err}"
    if isinstance(err, ModelNotFound):
        return EXIT_SETTINGS, str(err)
    if isinstance(err, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        if err.strerror:
            return EXIT_INPUT, err.strerror.lower() + (f": {err.filename}" if err.filename else "")
        return EXIT_INPUT, _first_line(err)
    return None
