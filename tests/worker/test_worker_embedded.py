"""The embedded default: `docsum run` with no broker, on SQLite, with a real Celery worker in the same process;
then `docsum status` and `docsum results` on the batch it left behind."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

from fleet_harness import DOCSUM, REPO_ROOT, copy_inputs

from docsum.outages import EXIT_SOME_FAILED


def cli_env(sqlite_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(DOCSUM_DATABASE_URL=sqlite_url, DOCSUM_DEVICE="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def docsum(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCSUM, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_run_without_broker_summarizes_in_process(sqlite_url: str, shared_data: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    copy_inputs(shared_data, inputs, pdfs=["issue-33-lorem-ipsum.pdf"], texts=2, html=0)
    (inputs / "truncated.pdf").write_bytes(
        (shared_data / "pdf_samples" / "files" / "issue-33-lorem-ipsum.pdf").read_bytes()[:2000]
    )
    out = tmp_path / "results.jsonl"
    env = cli_env(sqlite_url)

    run = docsum(["run", str(inputs), "--out", str(out), "--k", "2"], env)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr  # finished, one document failed
    assert "embedded worker" in run.stderr and "3 succeeded, 1 failed" in run.stderr, run.stderr
    assert "truncated.pdf" in run.stdout and "succeeded" in run.stdout  # the results table

    records = [json.loads(line) for line in out.read_text().splitlines()]
    by_name = {Path(r["source_uri"]).name: r for r in records}
    assert set(by_name) == {"issue-33-lorem-ipsum.pdf", "story0.txt", "story1.txt", "truncated.pdf"}
    assert by_name["truncated.pdf"]["status"] == "failed" and "corrupt" in by_name["truncated.pdf"]["error"].lower()
    for name in ("issue-33-lorem-ipsum.pdf", "story0.txt", "story1.txt"):
        r = by_name[name]
        assert r["status"] == "succeeded" and 1 <= len(r["indices"]) <= 2 and len(r["summary"]) == len(r["indices"])

    status = docsum(["status", "1"], env)
    assert status.returncode == 0 and "finished" in status.stdout and "3 succeeded" in status.stdout, status.stderr
    exported = docsum(["results", "1", "--format", "csv"], env)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(r["status"] for r in rows) == ["failed", "succeeded", "succeeded", "succeeded"]
    assert all(json.loads(r["indices"]) == by_name[Path(r["source_uri"]).name]["indices"] for r in rows)

    # The truncated PDF failed at ingest: nothing can be sent again. Waiting still reports how the batch ended.
    retried = docsum(["retry", "1", "--wait"], env)
    assert retried.returncode == EXIT_SOME_FAILED and "no failed document to send again" in retried.stdout
    assert docsum(["retry", "1"], env).returncode == 0  # not waiting: the command itself succeeded


def test_run_refuses_bad_input_before_doing_anything(sqlite_url: str, tmp_path: Path) -> None:
    env = cli_env(sqlite_url)
    (tmp_path / "a.txt").write_text("Some text.")
    bad_out = docsum(["run", str(tmp_path), "--out", str(tmp_path / "results.xlsx")], env)
    assert bad_out.returncode == 2 and "use a .jsonl or .csv file name" in bad_out.stderr
    missing = docsum(["run", str(tmp_path / "nope")], env)
    assert missing.returncode == 2 and "not found" in missing.stderr
    no_database = docsum(["status", "42"], env)  # reading never creates a database
    assert no_database.returncode == 3 and "no docsum database" in no_database.stderr
    assert docsum(["db", "upgrade"], env).returncode == 0
    unknown = docsum(["status", "42"], env)
    assert unknown.returncode == 2 and "batch 42 does not exist" in unknown.stderr
