"""`kill -9` of an embedded `docsum run`, then the same command again: the first batch shows as interrupted, the
rerun closes it and says so, and every document ends with exactly one summary from the model; the documents
summarized before the kill are not summarized again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from fleet_harness import DOCSUM, REPO_ROOT
from sqlalchemy import make_url
from test_worker_embedded import cli_env, docsum

FILES = 12
TOPICS = ["bridge", "library", "harbour", "school", "market", "railway", "park", "museum", "hospital", "tunnel"]


def story(n: int) -> str:
    topic = TOPICS[n % len(TOPICS)]
    return (
        f"The council met on Monday to discuss the new {topic} in district {n}. "
        f"Engineers said the old {topic} could no longer serve the {n * 100} residents safely. "
        f"The mayor promised that work on the {topic} would begin in the spring of year {2026 + n}. "
        f"Residents asked for a footpath and longer opening hours at the {topic}. "
    )


def count(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def test_a_killed_run_resumes_and_summarizes_each_document_once(sqlite_url: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(FILES):
        (inputs / f"doc{n:02d}.txt").write_text(story(n))
    db = Path(make_url(sqlite_url).database)
    env = {**cli_env(sqlite_url), "DOCSUM_CHUNK_SIZE": "2", "DOCSUM_STORE_EVERY": "1"}

    first = subprocess.Popen(
        [DOCSUM, "run", str(inputs)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its extraction child goes down with it
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if db.exists() and count(db, "SELECT name FROM sqlite_master WHERE name = 'summaries'"):
                if count(db, "SELECT COUNT(*) FROM summaries")[0][0] >= 1:
                    break
            assert first.poll() is None, "the first run ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = count(db, "SELECT COUNT(*) FROM summaries")[0][0]
    assert 1 <= before < FILES

    listed = docsum(["batches"], env)
    assert "interrupted" in listed.stdout, listed.stdout

    rerun = docsum(["run", str(inputs)], env)
    assert rerun.returncode == 0, rerun.stderr
    assert "batch 1 was interrupted (its process is gone)" in rerun.stderr
    assert f"{FILES} succeeded, 0 failed" in rerun.stderr

    per_document = count(db, "SELECT document_id, COUNT(*) FROM summaries GROUP BY document_id")
    assert len(per_document) == FILES and all(n == 1 for _, n in per_document)
    statuses = dict(count(db, "SELECT id, status FROM batches"))
    assert statuses == {1: "cancelled", 2: "finished"}  # no batch left running
    settled = count(db, "SELECT COUNT(*) FROM jobs WHERE batch_id = 2 AND worker_host = '(summarized before)'")
    assert settled[0][0] == before  # what the first run summarized was not summarized again
