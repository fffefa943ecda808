"""Real worker fleets for tests: PostgreSQL database + a private redis-server + `docsum worker` / `docsum flower`.

Module-scoped (model loading costs seconds, so a module shares its workers); the database and Redis helpers are
the root conftest's, found through pytest's plugin manager (every conftest module is named `conftest`). Each fleet
starts its own redis-server on a free port and stops it in `teardown`: nothing outside the fleet is touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCSUM = str(REPO_ROOT / ".venv" / "bin" / "docsum")
READY_TIMEOUT_S = 90.0


def root_conftest(config: pytest.Config) -> ModuleType:
    module = config.pluginmanager.get_plugin(str(REPO_ROOT / "tests" / "conftest.py"))
    assert module is not None, "tests/conftest.py is not loaded"
    return module


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Fleet:
    """Processes sharing one database and one Redis db. `env` is what every process gets (DOCSUM_*)."""

    db_url: str
    broker_url: str
    logs: Path
    redis: object = None  # the fleet's own conftest.RedisServer, stopped by teardown
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def process_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCSUM_", "FLOWER_"))}
        env.update(
            DOCSUM_DATABASE_URL=self.db_url,
            DOCSUM_BROKER_URL=self.broker_url,
            DOCSUM_DEVICE="cpu",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        env.update(extra or {})
        return env

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=self.process_env(extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, queue: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """`docsum worker` on one queue (concurrency 1: the machine is small), waited on until it consumes."""
        argv = [
            DOCSUM,
            "worker",
            "--queue",
            queue,
            "--concurrency",
            "1",
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
        ]
        proc = self.start(name, argv, extra_env)
        wait_for(lambda: " ready." in self.log(name) or proc.poll() is not None, READY_TIMEOUT_S, f"worker {name}")
        assert proc.poll() is None, f"worker {name} exited:\n{self.log(name)}"
        return proc

    def start_flower(self, port: int, basic_auth: str) -> subprocess.Popen:
        import requests

        proc = self.start("flower", [DOCSUM, "flower", "--port", str(port)], {"DOCSUM_FLOWER_BASIC_AUTH": basic_auth})

        def up() -> bool:
            if proc.poll() is not None:
                return True
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthcheck", timeout=1).ok
            except requests.ConnectionError:
                return False

        wait_for(up, READY_TIMEOUT_S, "flower")
        assert proc.poll() is None, f"flower exited:\n{self.log('flower')}"
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)  # the worker's own process group (start_new_session): its pool children too
            proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            self.procs.pop(name)


def make_fleet(config: pytest.Config, tmp: Path) -> Fleet:
    """A migrated PostgreSQL database and a redis-server of their own; call `teardown` when done."""
    from docsum.db.migrate import upgrade

    conftest = root_conftest(config)
    server = conftest.start_redis_server(tmp / "redis")
    db_url = conftest.create_pg_database("docsum_worker")
    upgrade(db_url)
    return Fleet(db_url=db_url, broker_url=server.new_db_url(), logs=tmp / "logs", redis=server)


def teardown(config: pytest.Config, fleet: Fleet) -> None:
    from docsum.db.session import dispose_engine

    fleet.stop_all()
    if fleet.redis is not None:
        fleet.redis.stop()
    dispose_engine(fleet.db_url)
    root_conftest(config).drop_pg_database(fleet.db_url)


def copy_inputs(shared_data: Path, dest: Path, pdfs: list[str], texts: int = 2, html: int = 1) -> list[Path]:
    """A small mixed directory built at test time: PDFs from pdf_samples, CNN/DM articles as .txt, benchmark HTML."""
    import gzip
    import json

    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for name in pdfs:
        out.append(Path(shutil.copy(shared_data / "pdf_samples" / "files" / name, dest / name)))
    with gzip.open(shared_data / "cnndm" / "test.jsonl.gz", "rt") as fh:
        for i, line in zip(range(texts), fh, strict=False):
            path = dest / f"story{i}.txt"
            path.write_text(json.loads(line)["article"])
            out.append(path)
    pages = sorted((shared_data / "html_benchmark" / "html").iterdir())[:html]
    for page in pages:
        out.append(Path(shutil.copy(page, dest / page.name)))
    return out
