"""Private servers for tests and benches: a free loopback port, a `redis-server` of our own on one, and PostgreSQL
databases created for the caller and dropped after.

Nothing here touches what a user runs or keeps: the Redis is started on a free port with no persistence, and stopped
by whoever started it; a database is created under a fresh random name and only that one is dropped. The tests
(tests/conftest.py) and the benches that need a server (bench/pipeline.py, bench/nightly.py, bench/follow_poll.py)
import it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_pg_database(admin_url: str, prefix: str) -> str:
    """Create an empty PostgreSQL database under a fresh name starting with `prefix`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    """Drop the database of `url` (one create_pg_database made), its open connections with it."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def pg_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the block (its URL), dropped after it, however it ends."""
    url = create_pg_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_pg_database(admin_url, url)


class RedisServer:
    """A private `redis-server` on a free loopback port: no RDB or AOF files, gone when stopped. Raises RuntimeError
    when it is not installed or does not answer."""

    def __init__(self, workdir: Path, databases: int = 16, ready_s: float = 20.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (tests and benches start their own: install the package)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--databases", str(databases), "--dir", str(workdir)]
        self.log = workdir / "redis.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self._next_db = iter(range(1, databases))
        try:
            self._wait_ready(ready_s)
        except RuntimeError:
            self.stop()
            raise

    def _wait_ready(self, ready_s: float) -> None:
        import redis

        deadline = time.monotonic() + ready_s
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        while True:
            if self.process.poll() is not None:
                tail = self.log.read_text()[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{tail}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not answer within {ready_s:g} s")
            time.sleep(0.05)

    def new_db_url(self) -> str:
        """A URL on a db number nobody else using this server has had (the server is ours and starts empty)."""
        return f"{self.url}/{next(self._next_db)}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
