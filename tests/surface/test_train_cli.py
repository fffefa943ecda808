"""`docsum train` asks for its data instead of starting an hour on default paths, and shows a progress bar."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCSUM = str(REPO_ROOT / ".venv" / "bin" / "docsum")


def docsum(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="160")
    if "DOCSUM_SHARED_DATA" in os.environ:
        env["DOCSUM_SHARED_DATA"] = os.environ["DOCSUM_SHARED_DATA"]
    return subprocess.run([DOCSUM, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def sample(source: Path, dest: Path, start: int, n: int) -> Path:
    with gzip.open(source, "rt") as fh:
        lines = [line for i, line in enumerate(fh) if start <= i < start + n]
    with gzip.open(dest, "wt") as out:
        out.writelines(lines)
    return dest


def test_train_without_data_says_what_to_give(tmp_path: Path) -> None:
    none = docsum(["train", "--out", str(tmp_path / "run")])
    assert none.returncode == 2 and "no training data: give --train FILE --valid FILE, or --cnndm" in none.stderr
    assert not (tmp_path / "run").exists()  # nothing started
    no_valid = docsum(["train", "--out", str(tmp_path / "run"), "--train", str(tmp_path / "t.jsonl.gz")])
    assert no_valid.returncode == 2 and "no validation data: give --valid FILE" in no_valid.stderr
    missing = docsum(["train", "--out", str(tmp_path / "run"), "--train", "/no/t.jsonl", "--valid", "/no/v.jsonl"])
    assert missing.returncode == 2 and "no such file or directory: /no/t.jsonl, /no/v.jsonl" in missing.stderr
    both = docsum(["train", "--out", str(tmp_path / "run"), "--cnndm", "--train", "/no/t.jsonl"])
    assert both.returncode == 2 and "either --cnndm or --train/--valid" in both.stderr
    helped = docsum(["train", "--help"])
    assert "--cnndm" in helped.stdout and "--train" in helped.stdout and "<list" not in helped.stdout


def test_a_short_run_shows_progress_and_keeps_its_best_model(shared_data: Path, tmp_path: Path) -> None:
    validation = shared_data / "cnndm" / "validation.jsonl.gz"
    train = sample(validation, tmp_path / "train.jsonl.gz", 0, 6)
    valid = sample(validation, tmp_path / "valid.jsonl.gz", 100, 2)
    out = tmp_path / "run"
    run = docsum(
        ["train", "--out", str(out), "--train", str(train), "--valid", str(valid), "--max-updates", "2",
         "--eval-every", "1", "--valid-docs", "2", "--accum", "1", "--batch-tokens", "1024", "--max-windows", "1",
         "--warmup", "1", "--threads", "1"]
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "train" in run.stderr and "2/2" in run.stderr and "updates" in run.stderr, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["update"] == 2 and summary["docs_seen"] >= 2
    assert (out / "best" / "config.json").is_file() and (out / "checkpoint.pt").is_file()
