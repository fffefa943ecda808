"""Engines and sessions: one cached engine per database URL, sessions from a `sessionmaker`.

SQLite (the embedded default) is set up so that an in-process worker thread and the CLI can share the file:
WAL (readers do not block the writer), a busy timeout (a second writer waits instead of failing), and foreign keys
on (SQLite leaves them off per connection). PostgreSQL gets `pool_pre_ping`, so a connection dropped by the server
is replaced instead of failing the next task.

JSON columns (a document's sentences and their records, parameters, scores) go through orjson: decoding them is
most of what reading a chunk of documents costs a summarize worker, and orjson does it several times faster.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings

SQLITE_BUSY_TIMEOUT_S = 30.0

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or None (not SQLite, or in memory)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" or u.database.startswith("file:"):
        return None
    return Path(u.database)


def ensure_sqlite_dir(url: str | URL) -> None:
    """Create the directory of a SQLite database file (e.g. ./var/) if missing; no-op for other URLs."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # NaN or Infinity, which the standard library wrote into SQLite files before orjson (it writes null).
        return json.loads(data)


def _set_sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")  # persistent per file; a no-op answer ("memory") for in-memory databases
    cursor.close()


def _new_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        # check_same_thread off: the pool hands connections to whichever thread (embedded worker or CLI) asks.
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            json_serializer=json_dumps,
            json_deserializer=json_loads,
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_dumps, json_deserializer=json_loads)


def make_engine(url: str | URL) -> Engine:
    """The engine for `url`, created once per process and reused (engines own connection pools)."""
    u = make_url(url)
    key = u.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _new_engine(u)
        return engine


def dispose_engine(url: str | URL) -> None:
    """Close the pooled connections of `url`'s engine and forget it (tests dropping databases, shutdown)."""
    key = make_url(url).render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.pop(key, None)
    if engine is not None:
        engine.dispose()


def _forget_inherited_pools() -> None:
    # A forked child (Celery prefork) must not use its parent's sockets; close=False leaves the parent's intact.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_pools)


def make_session_factory(url_or_settings: str | URL | Settings) -> sessionmaker[Session]:
    """A session factory on the cached engine. Objects stay usable after commit (expire_on_commit=False)."""
    url = url_or_settings.database_url if isinstance(url_or_settings, Settings) else url_or_settings
    return sessionmaker(bind=make_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back (and re-raise) when it raises."""
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
