"""The training pack: everything a training run needs, built once, in files that need only numpy, torch and
transformers to read (a GPU host has nothing else). Oracle labels and encoder windows are computed when the pack is
built, so that no labelling sits on a training step.

Layout of a pack folder:
- manifest.json: settings, counts, the sha256 and size of every file below;
- encoder/: the encoder's config and tokenizer files, and weights.safetensors.xz: every encoder tensor in fp16 except
  the word embeddings, of which only the rows the packed text uses are kept (`word_embeddings.rows` and
  `word_embeddings.ids`); the rows are frozen in training and the full matrix is verified by hash when a trained
  model loads here;
- train.npz.xz, valid.npz.xz: documents already cut into encoder windows, with oracle labels (see `encode_docs`);
- valid_text.json.xz: the offered sentences (whole documents, as ingest stores them) and references of the first
  validation documents of each file: ROUGE on the learning curve, scored exactly as `docsum eval` scores;
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
# The encoder's config and tokenizer files a pack carries in encoder/ (the first is its config.json).
ENCODER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
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
        raise FileNotFoundError(f"no training pack at {pack} (missing {MANIFEST}): build one with `docsum pack` first")
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


# ---- labels ------------------------------------------------------------------------------------------------------
def label_document(sentences: list[str], reference: list[str], tokenizer, cfg, max_windows: int):
    """A document's first `max_windows` encoder windows, its sentences there labelled with the greedy oracle over
    exactly those sentences; None when fewer than 3 remain or there is no reference (PreSumm drops such
    documents from training)."""
    from docsum.bertsum.loop import Sample
    from docsum.bertsum.oracle import greedy_oracle
    from docsum.bertsum.preprocess import prepare

    doc = prepare(sentences, tokenizer, cfg)
    doc.windows = doc.windows[:max_windows]
    n_seen = sum(len(w.cls_positions) for w in doc.windows)
    doc.kept = doc.kept[:n_seen]
    if n_seen < 3 or not reference:
        return None
    oracle = set(greedy_oracle([sentences[i] for i in doc.kept], reference))
    return Sample(doc, [1.0 if j in oracle else 0.0 for j in range(n_seen)])


# ---- the model and the samples a pack holds ----------------------------------------------------------------------
def build_model(pack: Path, manifest: dict, dropout: float | None = None, full_embeddings=None):
    """MiniLM with the pack's weights and a fresh head (seeded by the pack), word embeddings frozen and marked as the
    bundled matrix (verified by hash whenever the trained model loads). `full_embeddings`: the whole bundled matrix,
    where it is installed (its hash is checked against the pack's); else the rows the pack holds, the others zero (no
    packed text uses them). `dropout`: every dropout probability of encoder and head (None: the encoder's own)."""
    import torch
    from safetensors.torch import load
    from transformers import AutoConfig, AutoModel

    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.model import ExtSummarizer, encoder_config_dict, tensor_sha256

    enc_cfg = AutoConfig.from_pretrained(str(pack / "encoder"), local_files_only=True)
    enc_cfg._attn_implementation = "sdpa"
    torch.manual_seed(manifest["seed"])
    encoder = AutoModel.from_config(enc_cfg, add_pooling_layer=False)
    weights = load(lzma.decompress((pack / "encoder/weights.safetensors.xz").read_bytes()))
    ids, rows = weights.pop("word_embeddings.ids").long(), weights.pop("word_embeddings.rows").float()
    if full_embeddings is not None:
        if tensor_sha256(full_embeddings) != manifest["word_embeddings_sha256"]:
            raise ValueError("the installed encoder's word embeddings are not those the pack was built from")
        full = full_embeddings.float().clone()
    else:
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
    tokenizer = load_tokenizer(pack)
    config = BertSumConfig(
        name="docsum-minilm-cnndm",
        max_pos=manifest["window_tokens"],
        long_mode="windows",
        use_interval=manifest["use_interval"],
        trained=True,
    )
    config.encoder_config = encoder_config_dict(encoder)
    model = ExtSummarizer(config, encoder, tokenizer)
    if dropout is not None:
        set_dropout(model, dropout)
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    config.word_embeddings = "bundled"
    config.word_embeddings_sha256 = manifest["word_embeddings_sha256"]
    return model


def load_tokenizer(pack: Path):
    """The pack's tokenizer (the encoder's), without building the model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(pack / "encoder"), local_files_only=True, use_fast=True)


def set_dropout(model, p: float) -> None:
    """Every dropout of the model to probability `p` (the encoder's attention dropout reads its module's `p` too).
    At 0, torch returns the input untouched: no random masks, which cost a third of a CPU training step."""
    import torch

    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    model.config.ext_dropout = p


def load_samples(path: Path, tokenizer, use_interval: bool):
    """A pack's documents as training samples (encoder windows and oracle labels)."""
    from docsum.bertsum.loop import Sample
    from docsum.bertsum.preprocess import PreparedDoc, Window

    samples = []
    for windows, labels in decode_docs(read_npz_xz(path), tokenizer.cls_token_id, tokenizer.sep_token_id, use_interval):
        n = len(labels)
        doc = PreparedDoc(
            n_sentences=n, kept=list(range(n)), windows=[Window(ids, segs, pos) for ids, segs, pos in windows]
        )
        samples.append(Sample(doc, labels))
    return samples
