"""The GPU pack: everything a training run needs, in files that need only numpy, torch and transformers to read.

Layout of a pack folder:
- manifest.json: settings, counts, the sha256 and size of every file below;
- encoder/: the encoder's config and tokenizer files, and weights.safetensors.xz: every encoder tensor in fp16 except
  the word embeddings, of which only the rows the packed text uses are kept (`word_embeddings.rows` and
  `word_embeddings.ids`); the rows are frozen in training and the full matrix is verified by hash when a trained
  model loads here;
- train.npz.xz, valid.npz.xz: documents already cut into encoder windows, with oracle labels (see `encode_docs`);
- valid_text.json.xz: sentence texts and references of the first validation documents (R1 on the learning curve);
- test.json.xz: sentences and references of the test documents (the model's picks come back; ROUGE is scored here).

Token ids are stored once per sentence, without the [CLS]/[SEP] that frame every sentence, as uint16, then the
whole archive is xz-compressed: about 500 bytes per article for two 256-token windows.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
from pathlib import Path

import numpy as np

FORMAT = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- documents as arrays ---------------------------------------------------------------------------------------
def encode_docs(docs: list[tuple[list[list[int]], list[int], list[float]]]) -> dict[str, np.ndarray]:
    """Documents as (windows as lists of sentence pieces without [CLS]/[SEP], -, labels) -> flat arrays:
    tokens (uint16), sent_len (uint16), labels (uint8), win_sents (uint16 sentences per window),
    doc_windows (uint16 windows per document)."""
    tokens: list[int] = []
    sent_len: list[int] = []
    labels: list[int] = []
    win_sents: list[int] = []
    doc_windows: list[int] = []
    for windows, _, doc_labels in docs:
        doc_windows.append(len(windows))
        for pieces in windows:
            win_sents.append(len(pieces))
            for p in pieces:
                sent_len.append(len(p))
                tokens.extend(p)
        labels.extend(int(x) for x in doc_labels)
    if tokens and max(tokens) > np.iinfo(np.uint16).max:
        raise ValueError("token ids above 65535 do not fit the pack's uint16 storage")
    return {
        "tokens": np.asarray(tokens, dtype=np.uint16),
        "sent_len": np.asarray(sent_len, dtype=np.uint16),
        "labels": np.asarray(labels, dtype=np.uint8),
        "win_sents": np.asarray(win_sents, dtype=np.uint16),
        "doc_windows": np.asarray(doc_windows, dtype=np.uint16),
    }


def window_pieces(window_ids: np.ndarray, cls_positions: list[int]) -> list[list[int]]:
    """A prepared window back into its sentences' pieces (what lies between each [CLS] and its [SEP])."""
    bounds = list(cls_positions) + [len(window_ids)]
    return [np.asarray(window_ids[bounds[i] + 1 : bounds[i + 1] - 1]).tolist() for i in range(len(cls_positions))]


def decode_docs(arrays: dict[str, np.ndarray], cls_id: int, sep_id: int, use_interval: bool = True):
    """Flat arrays -> (windows, labels) per document, each window as (input_ids, token_type_ids, cls_positions)
    in int64 numpy arrays: exactly what bertsum.preprocess.prepare builds in windows mode."""
    tokens = arrays["tokens"].astype(np.int64)
    sent_len = arrays["sent_len"].astype(np.int64)
    sent_start = np.concatenate([[0], np.cumsum(sent_len)])
    win_sents = arrays["win_sents"].astype(np.int64)
    labels = arrays["labels"]
    out = []
    s = w = 0
    for n_windows in arrays["doc_windows"].astype(np.int64):
        windows = []
        first_sentence = s
        for _ in range(n_windows):
            ids, segs, positions = [], [], []
            pos = 0
            for j in range(win_sents[w]):
                piece = tokens[sent_start[s] : sent_start[s + 1]]
                positions.append(pos)
                ids.append(np.concatenate([[cls_id], piece, [sep_id]]))
                segs.append(np.full(len(piece) + 2, j % 2 if use_interval else 0, dtype=np.int64))
                pos += len(piece) + 2
                s += 1
            windows.append((np.concatenate(ids), np.concatenate(segs), positions))
            w += 1
        out.append((windows, labels[first_sentence:s].astype(np.float32).tolist()))
    return out


def write_npz_xz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(lzma.compress(buffer.getvalue(), preset=6))


def read_npz_xz(path: Path) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(lzma.decompress(path.read_bytes()))) as data:
        return {k: data[k] for k in data.files}


def write_json_xz(path: Path, obj) -> None:
    path.write_bytes(lzma.compress(json.dumps(obj, separators=(",", ":")).encode(), preset=6))


def read_json_xz(path: Path):
    return json.loads(lzma.decompress(path.read_bytes()))


# ---- manifest --------------------------------------------------------------------------------------------------
def write_manifest(pack: Path, manifest: dict) -> dict:
    files = {}
    for path in sorted(p for p in pack.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[str(path.relative_to(pack))] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"format": FORMAT, **manifest, "files": files}
    (pack / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(pack: Path, verify: bool = True) -> dict:
    """The manifest; with `verify`, every listed file must exist with its size and sha256 (a pack copied in part,
    or changed since it was built, fails here with the names of the files that differ)."""
    path = pack / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no GPU pack at {pack} (missing {MANIFEST}): run `bench/gpu_train.sh prepare` first")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{pack}: pack format {manifest.get('format')}, this script reads format {FORMAT}")
    if verify:
        bad = [
            name
            for name, meta in manifest["files"].items()
            if not (pack / name).exists()
            or (pack / name).stat().st_size != meta["bytes"]
            or sha256_file(pack / name) != meta["sha256"]
        ]
        if bad:
            raise ValueError(f"{pack}: files missing or changed since the pack was built: {bad}")
    return manifest
