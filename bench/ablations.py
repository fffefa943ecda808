"""Model ablations on the same articles and the same validation documents: interval segment ids on/off, the
learnable attention bias on/off, 1 vs 2 inter-sentence layers.

    python bench/ablations.py --train-docs 1500 --valid-docs 300

Design, so that four variants fit in CPU minutes: the bundled encoder is FROZEN and run once per segment-id scheme
over the first window (256 tokens) of each article; its sentence vectors are cached and every variant's head is
trained on the same cached vectors (same seed, same epochs). Validation loss and ROUGE (model vs Lead-3, sentences
past the first window never selected) compare the variants. This isolates the head-side choices and the segment
ids' effect on a pretrained encoder; it is not a full fine-tune, so absolute figures are below the shipped model's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from docsum.bertsum.batching import collate
from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.data import read_examples
from docsum.bertsum.evaluate import evaluate
from docsum.bertsum.model import ExtSummarizer, ExtTransformerEncoder, bundled_encoder_dir
from docsum.bertsum.oracle import greedy_oracle
from docsum.bertsum.preprocess import prepare
from docsum.bertsum.select import select_summary
from docsum.commands.training import TRAIN_FILES, VALID_FILES
from docsum.config import get_settings
from docsum.ingest.extract import document_sentences

VARIANTS: dict[str, dict] = {
    "base: interval, no bias, 2 layers": {},
    "no interval segments": {"use_interval": False},
    "attention bias": {"attn_bias": True},
    "1 inter-sentence layer": {"ext_layers": 1},
}
# Exploratory, not BERTSUM: sentence vectors as the mean of the sentence's token states (how all-MiniLM-L6-v2 was
# trained to pool) instead of its [CLS] state. `--pooling mean` runs the same variants on those vectors.


def sentence_features(
    model: ExtSummarizer, examples: list, config: BertSumConfig, batch_docs: int = 16, pooling: str = "cls"
) -> list[dict]:
    """Frozen-encoder sentence vectors ([CLS] state, or mean of the sentence's tokens) of each article's first
    window, with oracle labels over those sentences."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(examples), batch_docs):
            chunk = examples[i : i + batch_docs]
            docs = []
            for ex in chunk:
                doc = prepare(ex.sentences, model.tokenizer, config)
                doc.windows = doc.windows[:1]
                doc.kept = doc.kept[: len(doc.windows[0].cls_positions)] if doc.windows else []
                docs.append(doc)
            usable = [(ex, d) for ex, d in zip(chunk, docs) if len(d.kept) >= 3]
            if not usable:
                continue
            batch = collate([d for _, d in usable], model.tokenizer.pad_token_id)
            hidden = model.encode_windows(batch.input_ids, batch.token_type_ids, batch.attention_mask)
            vectors = hidden.reshape(-1, hidden.size(-1))[batch.sent_index]
            if pooling == "mean":  # mean over [CLS] s_i [SEP]: each sentence runs to the next [CLS] or the padding
                pooled = torch.zeros_like(vectors)
                for j, (_, d) in enumerate(usable):
                    starts = d.windows[0].cls_positions + [len(d.windows[0].input_ids)]
                    for k in range(len(d.kept)):
                        pooled[j, k] = hidden[j, starts[k] : starts[k + 1]].mean(0)
                vectors = pooled
            for j, (ex, d) in enumerate(usable):
                oracle = set(greedy_oracle([ex.sentences[k] for k in d.kept], ex.reference))
                out.append(
                    {
                        "x": vectors[j, : len(d.kept)].clone(),
                        "y": torch.tensor([float(k in oracle) for k in range(len(d.kept))]),
                        "kept": d.kept,
                        "ex": ex,
                    }
                )
    return out


def pad(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = max(it["x"].size(0) for it in items)
    x = torch.zeros(len(items), n, items[0]["x"].size(1))
    y = torch.zeros(len(items), n)
    mask = torch.zeros(len(items), n, dtype=torch.bool)
    for i, it in enumerate(items):
        k = it["x"].size(0)
        x[i, :k], y[i, :k], mask[i, :k] = it["x"], it["y"], True
    return x, y, mask


def head_loss(head: ExtTransformerEncoder, items: list[dict]) -> tuple[torch.Tensor, int]:
    x, y, mask = pad(items)
    logits = head(x, mask)
    return (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * mask).sum(), int(mask.sum())


def train_head(
    config: BertSumConfig, hidden: int, train: list[dict], valid: list[dict], epochs: int, seed: int = 0
) -> tuple[ExtTransformerEncoder, float]:
    torch.manual_seed(seed)
    head = ExtTransformerEncoder(hidden, config)
    for p in head.parameters():
        if p.dim() > 1:
            torch.nn.init.xavier_uniform_(p)
    optim = torch.optim.Adam(head.parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(seed)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        head.train()
        order = torch.randperm(len(train), generator=generator).tolist()
        for i in range(0, len(order), 32):
            loss, n = head_loss(head, [train[j] for j in order[i : i + 32]])
            optim.zero_grad()
            (loss / n).backward()
            optim.step()
        head.eval()
        with torch.no_grad():
            total, count = 0.0, 0
            for i in range(0, len(valid), 64):
                loss, n = head_loss(head, valid[i : i + 64])
                total, count = total + loss.item(), count + n
        if total / count < best:
            best, best_state = total / count, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    return head, best


def rouge(head: ExtTransformerEncoder, valid: list[dict]) -> dict:
    head.eval()
    picks = {}
    with torch.no_grad():
        for i in range(0, len(valid), 64):
            items = valid[i : i + 64]
            x, _, mask = pad(items)
            probs = torch.sigmoid(head(x, mask)) * mask
            for it, p in zip(items, probs):
                scores = [0.0] * len(it["ex"].sentences)
                eligible = [False] * len(it["ex"].sentences)
                for j, k in enumerate(it["kept"]):
                    scores[k], eligible[k] = float(p[j]), True
                picks[id(it["ex"])] = select_summary(it["ex"].sentences, scores, 3, True, None, eligible=eligible)
    examples = [it["ex"] for it in valid]
    lookup = {tuple(ex.sentences): picks[id(ex)] for ex in examples}
    return evaluate(examples, lambda docs: [lookup[tuple(d)] for d in docs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablations.json")
    parser.add_argument("--train-docs", type=int, default=1500)
    parser.add_argument("--valid-docs", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--pooling", choices=["cls", "mean"], default="cls", help="sentence vectors (mean: exploratory)"
    )
    parser.add_argument("--variants", nargs="*", help="run only these variants")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.monotonic()
    data = get_settings().shared_data
    half = args.train_docs // 2
    train_examples = [ex for name in TRAIN_FILES for ex in read_examples(data / name, document_sentences, half)]
    valid_file = data / VALID_FILES[0]
    valid_examples = list(read_examples(valid_file, document_sentences, args.valid_docs))
    encoder_model = ExtSummarizer.untrained(bundled_encoder_dir(), BertSumConfig(max_pos=256))
    encoder_model.eval()
    features = {}
    variants = {k: v for k, v in VARIANTS.items() if not args.variants or k in args.variants}
    for interval in sorted({v.get("use_interval", True) for v in variants.values()}, reverse=True):
        config = BertSumConfig(max_pos=256, use_interval=interval)
        features[interval] = tuple(
            sentence_features(encoder_model, exs, config, pooling=args.pooling)
            for exs in (train_examples, valid_examples)
        )
        print(
            f"features (interval={interval}): {len(features[interval][0])} train / "
            f"{len(features[interval][1])} valid docs, {time.monotonic() - started:.0f} s",
            flush=True,
        )

    hidden = encoder_model.bert.model.config.hidden_size
    results = {}
    for name, overrides in variants.items():
        config = BertSumConfig(max_pos=256, **overrides)
        train_f, valid_f = features[config.use_interval]
        head, valid_loss = train_head(config, hidden, train_f, valid_f, args.epochs)
        results[name] = {"valid_loss": round(valid_loss, 4), **rouge(head, valid_f)}
        print(f"{name}: {results[name]}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\nAblations ({args.pooling} sentence vectors), frozen bundled encoder, first 256-token window; "
        f"{len(features[True][0])} training articles, "
        f"{args.epochs} epochs per head; validation: {len(features[True][1])} articles of {valid_file.name}"
    )
    print(f"{'variant':<36} {'val loss':>9} {'R1':>6} {'R2':>6} {'RL':>6} {'lead3 R1':>9} {'R1-lead3':>9}")
    for name, r in results.items():
        m, lead = r["model"], r["lead3"]
        print(
            f"{name:<36} {r['valid_loss']:>9.4f} {m['rouge1']:>6.2f} {m['rouge2']:>6.2f} {m['rougeL']:>6.2f} "
            f"{lead['rouge1']:>9.2f} {m['rouge1'] - lead['rouge1']:>+9.2f}"
        )
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
