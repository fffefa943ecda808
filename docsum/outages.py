"""What the CLI says when a service is down or a setting is wrong: one line starting with `error:`, what to do about
it, and an exit code per kind of trouble (scripts and cron can tell them apart), instead of a traceback.

Exit codes: 1 an unexpected error (a bug: Python's own code, with its traceback; a few commands' own failures),
2 bad usage or input (typer's, commands' `fail`), 3 database unreachable or not set up, 4 broker unreachable,
5 invalid setting, 6 the batch ended but some of its documents failed (`run`, `nightly`, `retry --wait`: the
work was done, each failure is in the results with its reason).
"""

from __future__ import annotations

from docsum.errors import BrokerUnavailable, DatabaseNotSetUp, DatabaseUnwritable, InvalidSetting, ModelNotFound
from docsum.services.database import database_trouble, first_line

EXIT_INPUT = 2
EXIT_DATABASE = 3
EXIT_BROKER = 4
EXIT_SETTINGS = 5
EXIT_SOME_FAILED = 6


def describe(err: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for a known outage or misconfiguration; None for anything else (a bug)."""
    import kombu.exceptions
    import redis.exceptions
    import sqlalchemy.exc
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(err, (DatabaseNotSetUp, DatabaseUnwritable)):
        return EXIT_DATABASE, f"{err}"
    if isinstance(err, BrokerUnavailable):
        return EXIT_BROKER, f"{err}"
    if isinstance(err, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return EXIT_DATABASE, database_trouble(err).message
    broker_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError)
    if isinstance(err, broker_errors):
        return EXIT_BROKER, (
            f"cannot reach the broker: {first_line(err)} (check DOCSUM_BROKER_URL and that Redis is up)"
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
        return EXIT_INPUT, first_line(err)
    return None
