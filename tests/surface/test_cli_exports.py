"""`docsum run` and `docsum results` as a script uses them: the exit code of a batch that finished with failed
documents, one rule for --out and --format (the file's suffix picks the format, '-' is stdout), and an empty
DOCSUM_BROKER_URL meaning the in-process worker."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from pathlib import Path

from docsum.outages import EXIT_INPUT, EXIT_SOME_FAILED

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCSUM = str(REPO_ROOT / ".venv" / "bin" / "docsum")
STORY = (
    "The weather service issued a storm warning for the coast on Friday. Winds may reach ninety kilometres an hour. "
    "Ferries to the islands were cancelled and schools will close early in three districts."
)


def docsum(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(DOCSUM_DATABASE_URL=f"sqlite:///{tmp_path / 'docsum.db'}", DOCSUM_DEVICE="cpu", HF_HUB_OFFLINE="1")
    env.update(extra)
    return subprocess.run([DOCSUM, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_exit_codes_and_one_export_rule(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "storm.txt").write_text(STORY)
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)

    # Set but empty, the broker setting means what unset means: the in-process worker (not a queue nobody reads).
    run = docsum(["run", "in", "--k", "2", "--out", "-"], tmp_path, DOCSUM_BROKER_URL="")
    assert "embedded worker" in run.stderr, run.stderr
    # Finished, with a failed document: its own code, neither success nor an outage (3, 4, 5).
    assert run.returncode == EXIT_SOME_FAILED, run.stderr
    # `--out -`: stdout holds the JSON lines and nothing else (the table goes to stderr).
    streamed = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted((Path(r["source_uri"]).name, r["status"]) for r in streamed) == [
        ("broken.pdf", "failed"),
        ("storm.txt", "succeeded"),
    ]
    assert "batch 1" in run.stderr and "storm" in run.stderr

    # `results --out r1.csv` writes CSV, as `run --out r1.csv` would.
    to_csv = docsum(["results", "1", "--out", "r1.csv"], tmp_path)
    assert to_csv.returncode == 0, to_csv.stderr
    rows = list(csv.DictReader((tmp_path / "r1.csv").open(encoding="utf-8")))
    assert sorted(row["status"] for row in rows) == ["failed", "succeeded"]
    to_stdout = docsum(["results", "1", "--out", "-"], tmp_path)
    assert to_stdout.returncode == 0 and [json.loads(line) for line in to_stdout.stdout.splitlines()] == streamed
    as_csv = docsum(["results", "1", "--format", "csv"], tmp_path)
    assert as_csv.returncode == 0 and as_csv.stdout.startswith("job_id,document_id,")
    named = docsum(["results", "1", "--out", "r1.txt", "--format", "csv"], tmp_path)
    assert named.returncode == 0 and (tmp_path / "r1.txt").read_text().startswith("job_id,")

    # A file name that says one format while --format says another, or says none, is refused before writing.
    for args, message in (
        (["--out", "r2.csv", "--format", "jsonl"], "error: --format jsonl does not match the file name r2.csv"),
        (["--out", "r2.txt"], "error: cannot export to r2.txt: use a .jsonl or .csv file name, or --format"),
    ):
        refused = docsum(["results", "1", *args], tmp_path)
        assert refused.returncode == EXIT_INPUT and message in refused.stderr, refused.stderr
        assert not (tmp_path / args[1]).exists()
    run_refused = docsum(["run", "in", "--out", "r3.txt"], tmp_path)
    assert run_refused.returncode == EXIT_INPUT and "error: cannot export to r3.txt" in run_refused.stderr


def test_status_watch_follows_a_batch_to_its_end(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(4):
        (inputs / f"story{n}.txt").write_text(STORY.replace("Friday", f"day {n}"))
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(DOCSUM_DATABASE_URL=f"sqlite:///{tmp_path / 'docsum.db'}", DOCSUM_DEVICE="cpu", HF_HUB_OFFLINE="1")
    running = subprocess.Popen(
        [DOCSUM, "run", "in"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while docsum(["status", "1"], tmp_path).returncode != 0:  # the batch exists once `run` has submitted it
            assert running.poll() is None or running.returncode == EXIT_SOME_FAILED, running.stderr.read()
            assert time.monotonic() < deadline, "no batch 1"
            time.sleep(0.2)
        watched = docsum(["status", "1", "--watch"], tmp_path)
        # Until its end, then the final counts, and the exit code a script waiting on it needs.
        assert watched.returncode == EXIT_SOME_FAILED, watched.stderr
        assert "batch 1 finished: 4 succeeded, 1 failed (1 unreadable)" in watched.stdout  # counted by class
        assert running.wait(timeout=120) == EXIT_SOME_FAILED
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
