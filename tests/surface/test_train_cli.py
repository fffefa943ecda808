"""`docsum pack` and `docsum train`: they ask for their data instead of starting an hour on default paths, a short
run from a pack ends with a model directory, and a second invocation resumes instead of starting again."""

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


def articles(dest: Path, start: int, n: int) -> str:
    with gzip.open(dest, "wt") as out:
        for i in range(start, start + n):
            sentences = [
                f"Report {i} line {j} tells how the town spent budget item {i * 9 + j} this spring." for j in range(8)
            ]
            record = {"id": str(i), "article": " ".join(sentences), "highlights": sentences[1] + "\n" + sentences[3]}
            out.write(json.dumps(record) + "\n")
    return str(dest)


def test_pack_and_train_without_data_say_what_to_give(tmp_path: Path) -> None:
    none = docsum(["pack", str(tmp_path / "pack")])
    assert none.returncode == 2 and "no training data: give --train FILE --valid FILE, or --cnndm" in none.stderr
    no_valid = docsum(["pack", str(tmp_path / "pack"), "--train", str(tmp_path / "t.jsonl.gz")])
    assert no_valid.returncode == 2 and "no validation data: give --valid FILE" in no_valid.stderr
    both = docsum(["pack", str(tmp_path / "pack"), "--cnndm", "--train", "/no/t.jsonl"])
    assert both.returncode == 2 and "either --cnndm or --train/--valid" in both.stderr
    assert not (tmp_path / "pack").exists()  # nothing started
    no_pack = docsum(["train", str(tmp_path / "run")])
    assert no_pack.returncode == 2 and "--pack" in no_pack.stderr
    bad_precision = docsum(["train", str(tmp_path / "run"), "--pack", str(tmp_path), "--precision", "fp8"])
    assert bad_precision.returncode == 2 and "precision must be one of auto, fp32, bf16" in bad_precision.stderr
    helped = docsum(["train", "--help"])
    assert "--pack" in helped.stdout and "--minutes" in helped.stdout and "<list" not in helped.stdout


def test_a_short_run_from_a_pack_keeps_its_best_model_and_resumes(tmp_path: Path) -> None:
    train, valid = articles(tmp_path / "train.jsonl.gz", 0, 12), articles(tmp_path / "valid.jsonl.gz", 100, 3)
    pack = tmp_path / "pack"
    packed = docsum(["pack", str(pack), "--train", train, "--valid", valid, "--workers", "1"])
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert "12 training documents" in packed.stderr and "3 of them for ROUGE" in packed.stderr
    out = tmp_path / "run"
    args = ["train", str(out), "--pack", str(pack), "--plan-docs", "6", "--accum", "1", "--batch-tokens", "1024",
            "--warmup", "1", "--threads", "1", "--eval-minutes", "0"]  # fmt: skip
    first = docsum(args)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert summary["status"] == "complete" and summary["docs_seen"] >= 6 and summary["model"] == str(out / "best")
    assert 0 < summary["best"]["r1"] <= 100 and 0 < summary["best"]["lead3_r1"] <= 100
    assert (out / "best" / "config.json").is_file() and (out / "checkpoint.pt").is_file()
    figures = json.loads((out / "figures.json").read_text())
    assert figures["status"] == "complete" and figures["history"] and "eval:" in (out / "run.log").read_text()
    again = docsum([*args[:-2], "--plan-docs", "10", "--eval-minutes", "0"])  # a longer plan: resumes, goes on
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed at update" in again.stderr
    assert json.loads(again.stdout)["docs_seen"] > summary["docs_seen"]
