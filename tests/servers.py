"""Private servers for tests and benches: a free loopback port, and a `redis-server` of our own on one.

Nothing here touches a server a user runs: the Redis is started on a free port with no persistence, and stopped by
whoever started it. The tests (tests/conftest.py) and the pipeline bench (bench/pipeline.py) both import it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
