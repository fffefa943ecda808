#!/usr/bin/env python3
"""BertSumExt training on a GPU host in one command: prepare (here) -> run (the GPU host) -> ingest (here).

The training itself is the project's one training path (`docsum train`, docsum/bertsum/run.py); this script fits
it to a lent GPU host, which has no package index, none of the datasets and limits on what travels:

  prepare   `docsum pack` with a sample of the training articles sized to travel (--max-train-docs), validation
            from both validation files, capped samples of both CNN/DM test files and BBC; prints what travels.
  stage     sets models/docsum-minilm-cnndm aside (var/models-aside) so that the working tree and the pack fit the
            host's 64 MiB; `restore` (or `ingest`) puts it back. `travel` prints the total.
  run       on the GPU host: the training run for a wall-clock budget (bf16, checkpoints kept off $OUT), then the
            best checkpoint as fp16 safetensors shards of at most 15 MiB, the model's picks on the packed test
            documents, run.log and figures.json in --out or $OUT. Needs only torch, transformers, safetensors, numpy.
  ingest    here: verifies the returned shards' hashes, builds a model directory that ExtSummarizer.from_pretrained
            loads, scores ROUGE (model, Lead-3, oracle) from the returned picks, runs the evaluation on a sample on
            this CPU, and with --replace (and a better validation ROUGE-1 than the shipped model) replaces it.

A host may limit what is copied to it and what comes back. The limits are options (--upload-limit-mib,
--return-max-files, --return-file-mib, --return-total-mib, --shard-mib), checked before anything starts and before the
run exits; their defaults are those of the GPU host this project is lent (64 MiB there; 8 files of 16 MiB, 64 MiB in
all, two folders deep back). A host without limits: --upload-limit-mib 0 --return-max-files 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT), str(ROOT / "bench")):
    if path not in sys.path:
        sys.path.insert(0, path)


import ship_model  # noqa: E402

from docsum.bertsum import pack as gpu_pack  # noqa: E402

MIB = 1 << 20
# Defaults of the options that describe a host's limits (see the module docstring).
UPLOAD_LIMIT_MIB = 64
RETURN_MAX_FILES, RETURN_FILE_MIB, RETURN_TOTAL_MIB = 8, 16, 64
SHARD_MIB = 15
SHIPPED = Path("models/docsum-minilm-cnndm")
ASIDE = Path("var/models-aside")
DEFAULT_PACK = Path("var/gpu-pack")

log = logging.getLogger("gpu_train")


def shared_data() -> Path:
    return Path(os.environ.get("DOCSUM_SHARED_DATA", ROOT.parent / "shared" / "data"))


# ---- what travels ----------------------------------------------------------------------------------------------
def travel_bytes(pack: Path | None) -> dict[str, int]:
    """Bytes the host receives: tracked files present in the working tree, untracked files git does not ignore,
    and the pack (carried). Paths are relative to the repository root."""

    def listed(*args: str) -> list[Path]:
        result = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True)
        if result.returncode:
            raise SystemExit(f"error: cannot list what travels (git ls-files: {result.stderr.decode().strip()})")
        return [ROOT / p for p in result.stdout.decode().split("\0") if p]

    tracked = sum(p.stat().st_size for p in listed() if p.is_file())
    untracked = sum(p.stat().st_size for p in listed("--others", "--exclude-standard") if p.is_file())
    packed = sum(p.stat().st_size for p in (ROOT / pack).rglob("*") if p.is_file()) if pack else 0
    shipped = (
        sum(p.stat().st_size for p in (ROOT / SHIPPED).rglob("*") if p.is_file()) if (ROOT / SHIPPED).exists() else 0
    )
    return {
        "tracked": tracked,
        "untracked": untracked,
        "pack": packed,
        "shipped_model": shipped,
        "total": tracked + untracked + packed,
    }


def report_travel(pack: Path, strict: bool, limit_mib: float) -> int:
    """Print what is copied to the GPU host; above `limit_mib` (0: no limit), say what to do, and fail if `strict`."""
    t = travel_bytes(pack)
    limit = limit_mib * MIB if limit_mib > 0 else float("inf")
    print(
        f"travels to the GPU host: tracked {t['tracked'] / MIB:.1f} MiB"
        f" (of which {SHIPPED} {t['shipped_model'] / MIB:.1f})"
        f" + untracked {t['untracked'] / MIB:.1f} + pack {t['pack'] / MIB:.1f} = {t['total'] / MIB:.1f} MiB"
        + (f" (limit {limit_mib:g} MiB)" if limit_mib > 0 else "")
    )
    if t["total"] <= limit:
        return 0
    if t["total"] - t["shipped_model"] <= limit and t["shipped_model"]:
        print(
            f"over the limit with {SHIPPED} in the tree; `bash bench/gpu_train.sh stage` sets it aside "
            f"({(t['total'] - t['shipped_model']) / MIB:.1f} MiB without it)"
        )
    else:
        print(
            "error: over the limit even without the shipped model: build a smaller pack (--max-train-docs, "
            "--test-docs)",
            file=sys.stderr,
        )
    return 2 if strict else 0


def cmd_travel(args: argparse.Namespace) -> int:
    return report_travel(args.pack, strict=True, limit_mib=args.upload_limit_mib)


def cmd_stage(args: argparse.Namespace) -> int:
    src, dst = ROOT / SHIPPED, ROOT / ASIDE / SHIPPED.name
    if dst.exists():
        print(f"{SHIPPED} is already set aside in {ASIDE}")
    elif not src.exists():
        raise SystemExit(f"error: {SHIPPED} is missing and not set aside")
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        print(f"set {SHIPPED} aside in {ASIDE} (`bash bench/gpu_train.sh restore` or `ingest` puts it back)")
    return report_travel(args.pack, strict=True, limit_mib=args.upload_limit_mib)


def restore_shipped() -> bool:
    src, dst = ROOT / ASIDE / SHIPPED.name, ROOT / SHIPPED
    if not src.exists():
        return False
    if dst.exists():
        raise SystemExit(f"error: both {SHIPPED} and {src} exist; keep one by hand")
    shutil.move(str(src), str(dst))
    print(f"restored {SHIPPED}")
    return True


def cmd_restore(args: argparse.Namespace) -> int:
    if not restore_shipped():
        print(f"{SHIPPED} was not set aside")
    return 0


# ---- prepare (here) --------------------------------------------------------------------------------------------
def cmd_prepare(args: argparse.Namespace) -> int:
    from docsum.services.packing import CNNDM_TEST, CNNDM_TRAIN, CNNDM_VALID, PackSpec, build_pack

    data = shared_data()
    spec = PackSpec(
        out=ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out),
        train_files=args.train or [str(data / f) for f in CNNDM_TRAIN],
        valid_files=args.valid or [str(data / f) for f in CNNDM_VALID],
        test_files=args.test or [str(data / f) for f in CNNDM_TEST],
        data_root=data,
        max_train_docs=args.max_train_docs or None,
        valid_docs=args.valid_docs,
        valid_r1_docs=args.valid_r1_docs,
        test_docs=args.test_docs,
        window_tokens=args.window_tokens,
        max_windows=args.max_windows,
        seed=args.seed,
        workers=args.workers,
        xz_preset=args.xz_preset,
    )
    for f in spec.train_files + spec.valid_files + spec.test_files:
        if not Path(f).exists():
            raise SystemExit(f"error: {f} does not exist (set DOCSUM_SHARED_DATA to the datasets folder)")
    build_pack(spec)
    return report_travel(Path(os.path.relpath(spec.out, ROOT)), strict=False, limit_mib=args.upload_limit_mib)


# ---- run (the GPU host: torch, transformers, safetensors, numpy and the standard library only) ----------------
def write_shards(best_dir: Path, out: Path, shard_bytes: int = SHARD_MIB * MIB) -> dict[str, str]:
    """The best model's fp16 weights (a saved model directory, word embeddings left out: they are the bundled ones)
    as safetensors shards of at most `shard_bytes`, and its config.json; returns {shard name: sha256}."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(best_dir / "model.safetensors"))
    shards: list[dict] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if nbytes > shard_bytes:
            raise ValueError(f"{key} alone ({nbytes} bytes) exceeds a shard")
        if size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = state[key]
        size += nbytes
    names = {}
    for old in out.glob("model-*.safetensors"):
        old.unlink()
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:02d}-of-{len(shards):02d}.safetensors"
        tmp = out / (name + ".tmp")
        save_file(shard, str(tmp), metadata={"format": "pt"})
        tmp.replace(out / name)
        names[name] = gpu_pack.sha256_file(out / name)
    shutil.copy(best_dir / "config.json", out / "config.json")
    return names


def check_returns(
    out: Path, max_files: int = RETURN_MAX_FILES, file_mib: float = RETURN_FILE_MIB, total_mib: float = RETURN_TOTAL_MIB
) -> list[str]:
    """What the host's return limits would refuse (`max_files` 0: no limits): too many files, a file or the whole
    too large, a file more than two folders deep."""
    if max_files <= 0:
        return []
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = []
    if len(files) > max_files:
        problems.append(f"{len(files)} files (at most {max_files})")
    problems += [
        f"{p.name}: {p.stat().st_size} bytes (at most {file_mib:g} MiB)"
        for p in files
        if p.stat().st_size > file_mib * MIB
    ]
    if sum(p.stat().st_size for p in files) > total_mib * MIB:
        problems.append(f"more than {total_mib:g} MiB in all")
    problems += [f"{p}: too deep" for p in files if len(p.relative_to(out).parts) > 3]
    return problems


def score_picks(docs: list[dict], picks: list[list[int]], systems=("model", "lead3", "oracle")) -> dict:
    """ROUGE F1 x100 of picked sentences (and Lead-3, the greedy oracle) against each document's reference, as
    `docsum eval` scores them."""
    from docsum.bertsum.evaluate import Benchmark

    bench = Benchmark([(d["sentences"], d["reference"]) for d in docs], oracle="oracle" in systems)
    scores = bench.score(picks)
    return {"n": scores["n"], **{name: scores[name] for name in systems}}


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    out = Path(args.out or os.environ.get("OUT") or "runs/gpu")
    out.mkdir(parents=True, exist_ok=True)
    # Checkpoints (about 240 MB) and the best model stay off $OUT: only what fits the host's return limits goes there.
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="docsum-run-"))
    handlers = [logging.StreamHandler(sys.stdout), logging.FileHandler(out / "run.log")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)  # rouge-score's "Using default tokenizer." on every scorer
    import torch
    import transformers

    from docsum.bertsum.engine import InferenceEngine
    from docsum.bertsum.precision import compute_dtype
    from docsum.bertsum.run import BEST, RunSettings, rouge_available, run

    log.info(
        "torch %s, transformers %s, python %s", torch.__version__, transformers.__version__, platform.python_version()
    )
    pack = Path(args.pack)
    # The setup (pack decode, model build) takes a few seconds to a minute; the budget leaves room for it and the tests.
    minutes = min(args.minutes, args.deadline_minutes - args.reserve_seconds / 60 - 1.0)
    if minutes <= 0:
        raise SystemExit(f"error: no training time left within --deadline-minutes {args.deadline_minutes}")
    settings = RunSettings(
        pack=str(pack),
        out=str(work),
        minutes=minutes,
        plan_docs=args.plan_docs,
        batch_tokens=args.batch_tokens,
        accum=args.accum,
        lr_encoder=args.lr_encoder,
        lr_head=args.lr_head,
        warmup=args.warmup,
        cooldown=args.cooldown,
        dropout=args.dropout,
        precision=args.precision,
        eval_minutes=args.eval_minutes,
        checkpoint_minutes=args.checkpoint_minutes,
        valid_docs=args.valid_docs,
        r1_docs=args.r1_docs,
        max_train_docs=args.max_train_docs,
        eval_batch_tokens=args.eval_batch_tokens,
        seed=args.seed,
        device=args.device,
    )
    figures = run(settings)
    best = figures["best"]
    best["shards"] = write_shards(work / BEST, out, int(args.shard_mib * MIB))

    # The test figures describe the checkpoint that ships: the best weights as rounded to fp16.
    from safetensors.torch import load_file

    manifest = gpu_pack.read_manifest(pack, verify=False)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = gpu_pack.build_model(pack, manifest, dropout=args.dropout, full_embeddings=None)
    state = {k: v.float() for k, v in load_file(str(work / BEST / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "word_embeddings" not in k and not k.endswith("position_ids")]:
        raise SystemExit(f"error: the best checkpoint does not fit the model ({missing[:3]}, {unexpected[:3]})")
    model.to(device).eval()
    engine = InferenceEngine(
        model, max_batch_tokens=args.eval_batch_tokens, amp_dtype=compute_dtype(device, args.precision)
    )
    tests = gpu_pack.read_json_xz(pack / "test.json.xz")
    scoring = rouge_available()
    figures["test"] = {}
    for name, t in tests.items():
        docs = t["docs"][: args.test_docs or None]
        started = time.monotonic()
        picks = [s.indices for s in engine.summarize([d["sentences"] for d in docs], k=3)]
        entry = {"n": len(picks), "seconds": round(time.monotonic() - started, 1), "picks": picks}
        if scoring:
            entry["rouge"] = score_picks(docs, picks)
            r = entry["rouge"]
            log.info(
                "%s: model R1 %.2f, Lead-3 %.2f, oracle %.2f (%d docs)",
                name,
                r["model"]["rouge1"],
                r["lead3"]["rouge1"],
                r["oracle"]["rouge1"],
                r["n"],
            )
        figures["test"][name] = entry
    figures["total_wall_s"] = round(time.monotonic() - t0, 1)
    tmp = out / "figures.json.tmp"
    tmp.write_text(json.dumps(figures, separators=(",", ":")))
    tmp.replace(out / "figures.json")
    problems = check_returns(out, args.return_max_files, args.return_file_mib, args.return_total_mib)
    log.info("outputs in %s: %s; %.0f s in all", out, sorted(p.name for p in out.iterdir()), figures["total_wall_s"])
    if problems:
        log.error("outputs exceed what the host returns: %s", problems)
        return 3
    return 0


# ---- ingest (here) ---------------------------------------------------------------------------------------------
def find_outputs(source: Path) -> Path:
    """The folder holding figures.json: the host's files may come back one or two folders down."""
    if (source / "figures.json").exists():
        return source
    found = sorted(p.parent for p in source.rglob("figures.json"))
    if len(found) != 1:
        raise SystemExit(f"error: expected one figures.json under {source}, found {len(found)}")
    return found[0]


def _scored(valid_text: list[dict], picks: list[list[int]]) -> float:
    return score_picks(valid_text[: len(picks)], picks, systems=("model",))["model"]["rouge1"]


def cmd_ingest(args: argparse.Namespace) -> int:
    import torch
    from safetensors.torch import load_file, save_file

    from docsum.bertsum.config import CONFIG_NAME, WEIGHTS_NAME
    from docsum.bertsum.data import Example
    from docsum.bertsum.evaluate import evaluate
    from docsum.bertsum.model import ExtSummarizer

    if not args.keep_aside:
        restore_shipped()
    src = find_outputs(Path(args.source))
    pack = Path(args.pack)
    gpu_pack.read_manifest(pack, verify=True)
    figures = json.loads((src / "figures.json").read_text())
    if figures.get("status") != "complete":
        print(f"warning: the run did not finish (status {figures.get('status')!r}); ingesting its best checkpoint")
    shards = figures["best"].get("shards") or {}
    if not shards:
        raise SystemExit("error: the run returned no checkpoint")
    for name, digest in shards.items():
        if not (src / name).exists():
            raise SystemExit(f"error: shard {name} did not come back")
        if gpu_pack.sha256_file(src / name) != digest:
            raise SystemExit(f"error: shard {name} does not match the sha256 the run recorded (damaged in transfer?)")
    print(f"{len(shards)} shards verified (sha256)")

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".merging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    state: dict[str, torch.Tensor] = {}
    for name in sorted(shards):
        state.update(load_file(str(src / name)))
    save_file(state, str(staging / WEIGHTS_NAME), metadata={"format": "pt"})
    shutil.copy(src / CONFIG_NAME, staging / CONFIG_NAME)
    for name in gpu_pack.ENCODER_FILES[1:]:  # the tokenizer's files
        if (pack / "encoder" / name).exists():
            shutil.copy(pack / "encoder" / name, staging / name)
    model = ExtSummarizer.from_pretrained(staging, device="cpu")  # checks the bundled word embeddings' hash
    model.save_pretrained(out, dtype=torch.float16)  # the same layout as every model directory docsum writes
    shutil.rmtree(staging)  # fp16 -> fp32 -> fp16 is exact: `model` holds what `out` holds
    report: dict = {
        "source": str(src),
        "model_dir": str(out),
        "model_id": model.model_id,
        "shards": shards,
        **{
            k: figures.get(k)
            for k in (
                "hardware",
                "versions",
                "updates",
                "docs_seen",
                "train_docs",
                "train_wall_s",
                "total_wall_s",
                "settings",
            )
        },
        "best": {k: v for k, v in figures["best"].items() if k != "shards"},
    }
    print(f"model directory {out}: {model.model_id}")

    valid_text = gpu_pack.read_json_xz(pack / "valid_text.json.xz")
    report["curve"] = [
        {k: h[k] for k in ("update", "docs_seen", "epochs", "wall_s", "valid_loss")}
        | {"valid_r1": h["r1"] if "r1" in h else _scored(valid_text, h["picks"])}
        for h in figures["history"]
    ]
    tests = gpu_pack.read_json_xz(pack / "test.json.xz")
    report["test"], report["cpu_check"] = {}, {}
    agreements = []
    for name, entry in (figures.get("test") or {}).items():
        docs = tests[name]["docs"][: entry["n"]]  # a run may have been capped to the first documents
        rouge = score_picks(docs, entry["picks"])
        if "rouge" in entry and entry["rouge"] != rouge:
            raise SystemExit(f"error: {name}: ROUGE here {rouge} differs from the host's {entry['rouge']}")
        report["test"][name] = rouge | {"records_in_file": tests[name]["records"]}
        # The evaluation on this CPU, from the sentences, on a sample: the loaded model must pick what the host did.
        sample = docs[: args.eval_docs]
        here: list[list[int]] = []

        def summarize(batch: list[list[str]]) -> list[list[int]]:
            picks = [s.indices for s in model.summarize(batch, k=3)]
            here.extend(picks)
            return picks

        cpu = evaluate([Example(d["id"], d["sentences"], d["reference"], "") for d in sample], summarize)
        same = sum(a == b for a, b in zip(here, entry["picks"]))
        agreements.append(same / max(len(sample), 1))
        report["cpu_check"][name] = {
            "docs": len(sample),
            "same_picks_as_host": same,
            "model_here": cpu["model"],
            "model_host_picks": score_picks(sample, entry["picks"][: len(sample)], ("model",))["model"],
        }
    if agreements and min(agreements) < args.min_agreement:
        raise SystemExit(
            f"error: the model here picks differently from the host on {1 - min(agreements):.0%} of a sample "
            f"(report: {json.dumps(report['cpu_check'])})"
        )

    if args.replace:
        report["validation"] = ship_model.compare(out, ROOT / SHIPPED, pack)
    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"{'test set':<28} {'docs':>5}  {'model R1/R2/RL':>20}  {'Lead-3 R1/R2/RL':>20}  {'oracle R1/R2/RL':>20}"
        "  model-Lead3"
    )
    for name, r in report["test"].items():
        fmt = lambda s: "/".join(f"{r[s][k]:.2f}" for k in ("rouge1", "rouge2", "rougeL"))  # noqa: E731
        print(
            f"{name:<28} {r['n']:>5}  {fmt('model'):>20}  {fmt('lead3'):>20}  {fmt('oracle'):>20}  "
            f"{r['model']['rouge1'] - r['lead3']['rouge1']:+.2f}"
        )
    for point in report["curve"]:
        print(
            f"update {point['update']:>6}  epochs {point['epochs']:.2f}  valid loss {point['valid_loss']:.4f}"
            f"  R1 {point['valid_r1']:.2f}"
        )
    print(f"report: {report_path}")

    if args.replace:
        ship_model.replace(out, ROOT / SHIPPED, report["validation"])
    return 0


# ---- command line ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    upload = argparse.ArgumentParser(add_help=False)
    upload.add_argument(
        "--upload-limit-mib", type=float, default=UPLOAD_LIMIT_MIB, help="what the host accepts (0: no limit)"
    )
    returns = argparse.ArgumentParser(add_help=False)
    returns.add_argument("--return-max-files", type=int, default=RETURN_MAX_FILES, help="0: no return limits")
    returns.add_argument("--return-file-mib", type=float, default=RETURN_FILE_MIB)
    returns.add_argument("--return-total-mib", type=float, default=RETURN_TOTAL_MIB)
    returns.add_argument("--shard-mib", type=float, default=SHARD_MIB, help="largest weight shard written")

    p = sub.add_parser("prepare", parents=[upload], help="build a pack sized to travel (here, CPU)")
    p.add_argument("--out", default=str(DEFAULT_PACK))
    p.add_argument("--train", action="append", help="training JSONL(.gz) (repeatable; default: every CNN/DM file)")
    p.add_argument("--valid", action="append", help="validation JSONL(.gz) (repeatable; default: both files)")
    p.add_argument("--test", action="append", help="test JSONL(.gz) (repeatable; default: both CNN/DM tests, BBC)")
    p.add_argument(
        "--max-train-docs",
        type=int,
        default=45000,
        help="training articles packed (what fits the default upload limit; 0: all)",
    )
    p.add_argument("--valid-docs", type=int, default=1000, help="validation records read per file")
    p.add_argument("--valid-r1-docs", type=int, default=500, help="validation documents per file scored with R1")
    p.add_argument("--test-docs", type=int, default=1000, help="test documents sampled per file (0: all)")
    p.add_argument("--window-tokens", type=int, default=256)
    p.add_argument("--max-windows", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--xz-preset", type=int, default=6, help="xz preset of the encoder weights (0 is fastest)")
    p.set_defaults(func=cmd_prepare)

    for name, func, text in (
        ("travel", cmd_travel, "print what travels to the GPU host"),
        ("stage", cmd_stage, f"set {SHIPPED} aside so that the tree fits"),
        ("restore", cmd_restore, f"put {SHIPPED} back"),
    ):
        p = sub.add_parser(name, parents=[upload], help=text)
        p.add_argument("--pack", type=Path, default=DEFAULT_PACK)
        p.set_defaults(func=func)

    p = sub.add_parser("run", parents=[returns], help="train, evaluate and write outputs (the GPU host)")
    p.add_argument("--pack", default=str(DEFAULT_PACK))
    p.add_argument("--out", default=None, help="output folder (default: $OUT, else runs/gpu)")
    p.add_argument("--work", default=None, help="checkpoints and the best model (default: a temporary folder)")
    p.add_argument("--minutes", type=float, default=7.0, help="training wall-clock budget")
    p.add_argument("--deadline-minutes", type=float, default=9.0, help="the whole command ends within this")
    p.add_argument("--reserve-seconds", type=float, default=60.0, help="kept for the test evaluation and writing")
    p.add_argument("--plan-docs", type=int, default=0, help="documents the schedule spans (0: one pass)")
    p.add_argument("--batch-tokens", type=int, default=32768, help="padded tokens per micro-batch")
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--lr-encoder", type=float, default=1e-4, help="peak learning rate of the encoder")
    p.add_argument("--lr-head", type=float, default=1e-3, help="peak learning rate of the inter-sentence head")
    p.add_argument("--warmup", type=int, default=300, help="updates of linear warmup before the step^-0.5 decay")
    p.add_argument("--cooldown", type=float, default=0.25, help="share of the plan over which the rate anneals to 0")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--precision", default="auto", help="auto, fp32 or bf16")
    p.add_argument("--eval-minutes", type=float, default=1.5, help="minutes between evaluations")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--eval-batch-tokens", type=int, default=65536, help="token budget of the inference batches")
    p.add_argument("--max-train-docs", type=int, default=0, help="use only this many training documents (0: all)")
    p.add_argument("--valid-docs", type=int, default=0, help="validation documents for the loss (0: all packed)")
    p.add_argument("--r1-docs", type=int, default=0, help="validation documents scored with R1 (0: all packed)")
    p.add_argument("--test-docs", type=int, default=0, help="documents per test set (0: all packed)")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ingest", help="turn the returned files into a model directory (here)")
    p.add_argument("source", help="folder with the returned files (figures.json, shards, config.json, run.log)")
    p.add_argument("--pack", default=str(DEFAULT_PACK))
    p.add_argument("--out", default="var/gpu-ingest/model")
    p.add_argument("--report", default="var/gpu-ingest/report.json")
    p.add_argument("--eval-docs", type=int, default=50, help="test documents per set evaluated again on this CPU")
    p.add_argument(
        "--min-agreement",
        type=float,
        default=0.8,
        help="share of those whose picks must equal the host's (bf16 there, fp32 here: near-ties may flip)",
    )
    p.add_argument(
        "--replace", action="store_true", help=f"replace {SHIPPED} if it earns it on validation (bench/ship_model.py)"
    )
    p.add_argument("--keep-aside", action="store_true", help=f"leave {SHIPPED} set aside (tests)")
    p.set_defaults(func=cmd_ingest)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
