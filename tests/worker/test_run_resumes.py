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

FILES = 60  # enough that the kill, at most one poll after the first summary, lands before the last one
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


def killed_run(sqlite_url: str, tmp_path: Path) -> tuple[Path, dict[str, str], Path, int]:
    """Start `docsum run` over FILES new files, kill -9 it once it has stored a summary; returns the input folder,
    the environment, the database file and how many summaries it stored."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    db = Path(make_url(sqlite_url).database)
    env = {**cli_env(sqlite_url), "DOCSUM_CHUNK_SIZE": "2", "DOCSUM_STORE_EVERY": "1"}
    for n in range(FILES):
        (inputs / f"doc{n:02d}.txt").write_text(story(n))
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
    return inputs, env, db, before


def assert_each_document_summarized_once(db: Path, before: int) -> None:
    per_document = count(db, "SELECT document_id, COUNT(*) FROM summaries GROUP BY document_id")
    assert len(per_document) == FILES and all(n == 1 for _, n in per_document)
    statuses = dict(count(db, "SELECT id, status FROM batches"))
    assert statuses == {1: "cancelled", 2: "finished"}  # no batch left running
    settled = count(db, "SELECT COUNT(*) FROM jobs WHERE batch_id = 2 AND worker_host = '(summarized before)'")
    assert settled[0][0] == before  # what the first run summarized was not summarized again


def test_a_killed_run_resumes_and_summarizes_each_document_once(sqlite_url: str, tmp_path: Path) -> None:
    inputs, env, db, before = killed_run(sqlite_url, tmp_path)

    listed = docsum(["batches"], env)
    assert "interrupted" in listed.stdout, listed.stdout

    rerun = docsum(["run", str(inputs)], env)
    assert rerun.returncode == 0, rerun.stderr
    assert "batch 1 was interrupted (its process is gone)" in rerun.stderr
    assert f"{FILES} succeeded, 0 failed" in rerun.stderr
    assert_each_document_summarized_once(db, before)


def test_retry_of_a_killed_run_resumes_it(sqlite_url: str, tmp_path: Path) -> None:
    """`docsum retry` on the interrupted batch picks its work up (from the paths it kept), run from anywhere."""
    _, env, db, before = killed_run(sqlite_url, tmp_path)

    retried = subprocess.run([DOCSUM, "retry", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "batch 1 was interrupted: its unfinished work goes on as batch 2" in retried.stdout
    assert_each_document_summarized_once(db, before)
    again = docsum(["retry", "2"], env)  # a finished batch with no failure: nothing to do
    assert again.returncode == 0 and "no failed document to send again" in again.stdout
