"""Fine-tune BertSumExt on oracle labels: the loop, visible (nanoGPT style).

Masked binary cross-entropy per sentence; Adam with PreSumm's warmup schedule (linear warmup, then step^-0.5 decay),
scaled to our encoder: peak learning rates per parameter group instead of PreSumm's 2e-3*warmup^-0.5; token-budget
batches of length-sorted documents; gradient accumulation; checkpoints every N updates and resume; validation
loss picks the best checkpoint; one seed for data order and initialisation.

Resume continues after the last article pulled into the sorting buffer (up to 64 articles that were buffered but not
yet trained are skipped), which keeps the data order a simple prefix of one seeded shuffle.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from docsum.bertsum.batching import collate
from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.data import Example, SentenceFilter, normalized_hash, read_examples, read_records, to_example
from docsum.bertsum.model import ExtSummarizer, bundled_encoder_dir, freeze_word_embeddings
from docsum.bertsum.oracle import greedy_oracle
from docsum.bertsum.preprocess import PreparedDoc, prepare

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    out: str
    train_files: list[str]
    valid_files: list[str]
    test_files: list[str] = field(default_factory=list)  # read only to prove none of them is trained on
    encoder: str | None = None  # default: the bundled MiniLM
    name: str = "docsum-minilm-cnndm"
    max_docs: int | None = None  # training articles to read (None: all)
    window_tokens: int = 256  # max_pos of a window
    max_windows: int = 2  # training inputs cut after this many windows (oracle sentences sit early)
    batch_tokens: int = 4096  # padded tokens per micro-batch
    accum: int = 2
    lr_encoder: float = 8e-5
    lr_head: float = 8e-4
    warmup: int = 200
    max_updates: int = 100_000
    cooldown: int = 0  # the last `cooldown` updates before max_updates anneal the learning rate linearly to zero
    max_minutes: float = 60.0  # wall-clock budget; the run stops cleanly and keeps its best checkpoint
    valid_docs: int = 300
    eval_every: int = 100
    seed: int = 0
    # Ablation switches (issue 4).
    use_interval: bool = True
    attn_bias: bool = False
    ext_layers: int = 2
    threads: int | None = None


@dataclass
class Sample:
    doc: PreparedDoc
    labels: list[float]


def make_sample(ex: Example, model: ExtSummarizer, cfg: BertSumConfig, max_windows: int) -> Sample | None:
    """Prepare an article (first `max_windows` windows) and label its sentences with the greedy oracle over
    exactly the sentences the model sees. PreSumm drops documents with fewer than 3 sentences from training."""
    doc = prepare(ex.sentences, model.tokenizer, cfg)
    doc.windows = doc.windows[:max_windows]
    n_seen = sum(len(w.cls_positions) for w in doc.windows)
    doc.kept = doc.kept[:n_seen]
    if n_seen < 3 or not ex.reference:
        return None
    oracle = set(greedy_oracle([ex.sentences[i] for i in doc.kept], ex.reference))
    return Sample(doc, [1.0 if j in oracle else 0.0 for j in range(n_seen)])


def interleave(
    files: list[str], seed: int, limit: int | None, exclude: set[str], sentence_filter: SentenceFilter | None = None
) -> list[Example]:
    """All articles of the training files, shuffled together (seeded); any article also in `exclude` is refused.
    Only the kept articles are split into sentences."""
    records = [r for f in files for r in read_records(f)]
    leaked = [r.get("id") for r in records if normalized_hash(r["article"]) in exclude]
    if leaked:
        raise ValueError(f"{len(leaked)} training articles are test articles (e.g. {leaked[:3]})")
    random.Random(seed).shuffle(records)
    return [to_example(r, sentence_filter) for r in (records[:limit] if limit else records)]


def token_budget_batches(samples: Iterator[Sample], budget: int, buffer: int = 64) -> Iterator[list[Sample]]:
    """Length-sorted batches within buffers of `buffer` samples (PreSumm), count x longest <= budget."""
    pool: list[Sample] = []

    def drain(pool: list[Sample]) -> Iterator[list[Sample]]:
        pool.sort(key=lambda s: max(len(w.input_ids) for w in s.doc.windows) * len(s.doc.windows))
        batch: list[Sample] = []
        longest = 0
        for s in pool:
            n_windows = sum(len(b.doc.windows) for b in batch) + len(s.doc.windows)
            l = max(longest, max(len(w.input_ids) for w in s.doc.windows))
            if batch and n_windows * l > budget:
                yield batch
                batch, l = [], max(len(w.input_ids) for w in s.doc.windows)
            batch.append(s)
            longest = l
        if batch:
            yield batch

    for s in samples:
        pool.append(s)
        if len(pool) >= buffer:
            yield from drain(pool)
            pool = []
    if pool:
        yield from drain(pool)


def batch_loss(model: ExtSummarizer, samples: list[Sample], device: torch.device) -> tuple[torch.Tensor, int]:
    batch = collate([s.doc for s in samples], model.tokenizer.pad_token_id).to(device)
    logits = model(*batch.as_tuple())
    labels = torch.zeros_like(logits)
    for i, s in enumerate(samples):
        labels[i, : len(s.labels)] = torch.tensor(s.labels)
    mask = batch.sent_mask.float()
    loss = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * mask).sum()
    return loss, int(mask.sum().item())


def lr_factor(update: int, warmup: int) -> float:
    """PreSumm/Noam: min(step^-0.5, step * warmup^-1.5), normalised to 1.0 at the end of warmup."""
    step = max(update, 1)
    return min(step**-0.5, step * warmup**-1.5) * math.sqrt(warmup)


def cooldown_factor(update: int, max_updates: int, cooldown: int) -> float:
    """1.0, then a linear ramp to 0 over the last `cooldown` updates (annealing after the Noam schedule)."""
    if cooldown <= 0:
        return 1.0
    return min(1.0, max(0.0, (max_updates - update) / cooldown))


@torch.no_grad()
def validation_loss(model: ExtSummarizer, samples: list[Sample], budget: int, device: torch.device) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in token_budget_batches(iter(samples), budget, buffer=len(samples) or 1):
        loss, n = batch_loss(model, batch, device)
        total, count = total + loss.item(), count + n
    model.train()
    return total / max(count, 1)


def build_model(tc: TrainConfig) -> ExtSummarizer:
    encoder_dir = Path(tc.encoder) if tc.encoder else bundled_encoder_dir()
    config = BertSumConfig(
        name=tc.name,
        encoder_path=str(encoder_dir),
        max_pos=tc.window_tokens,
        long_mode="windows",
        use_interval=tc.use_interval,
        attn_bias=tc.attn_bias,
        ext_layers=tc.ext_layers,
    )
    torch.manual_seed(tc.seed)
    model = ExtSummarizer._untrained(encoder_dir, config)
    if tc.encoder is None:
        freeze_word_embeddings(model)
    return model


def train(tc: TrainConfig, sentence_filter: SentenceFilter | None = None) -> dict:
    """Run (or resume) a training run in `tc.out`; returns the run summary (also written to `train_log.json`)."""
    out = Path(tc.out)
    out.mkdir(parents=True, exist_ok=True)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device = torch.device("cpu") if not torch.cuda.is_available() else torch.device("cuda")
    random.seed(tc.seed)
    torch.manual_seed(tc.seed)

    model = build_model(tc).to(device)
    model.train()
    cfg = model.config
    test_hashes = {normalized_hash(r["article"]) for f in tc.test_files for r in read_records(f)}
    examples = interleave(tc.train_files, tc.seed, tc.max_docs, test_hashes, sentence_filter)
    per_file = tc.valid_docs // max(len(tc.valid_files), 1)
    valid = [s for ex in (e for f in tc.valid_files for e in read_examples(f, per_file, sentence_filter))
             if (s := make_sample(ex, model, cfg, tc.max_windows)) is not None]

    head = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
    encoder = [p for n, p in model.named_parameters() if n.startswith("bert.") and p.requires_grad]
    optim = torch.optim.Adam(
        [{"params": encoder, "lr": tc.lr_encoder, "peak": tc.lr_encoder}, {"params": head, "lr": tc.lr_head, "peak": tc.lr_head}],
        betas=(0.9, 0.999),
    )
    state = {"update": 0, "consumed": 0, "docs_seen": 0, "best_valid": float("inf"), "history": [], "wall_s": 0.0}
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():  # resume
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optim.load_state_dict(ckpt["optim"])
        state = ckpt["state"]
        log.info("resumed at update %d (%d articles consumed)", state["update"], state["consumed"])

    def samples() -> Iterator[Sample]:
        for ex in examples[state["consumed"]:]:
            state["consumed"] += 1
            s = make_sample(ex, model, cfg, tc.max_windows)
            if s is not None:
                yield s

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "state": state, "train_config": asdict(tc)}, tmp)
        tmp.replace(ckpt_path)

    def evaluate_and_keep_best() -> None:
        vloss = validation_loss(model, valid, tc.batch_tokens, device)
        state["history"].append({"update": state["update"], "docs_seen": state["docs_seen"], "valid_loss": vloss, "wall_s": round(state["wall_s"])})
        if vloss < state["best_valid"]:
            state["best_valid"] = vloss
            model.config.trained = True
            model.save_pretrained(out / "best")
        log.info("update %d docs %d valid_loss %.4f (best %.4f)", state["update"], state["docs_seen"], vloss, state["best_valid"])
        save_checkpoint()

    started = time.monotonic() - state["wall_s"]
    run_loss, run_sents, micro = 0.0, 0, 0
    window_start, window_docs = time.monotonic(), 0
    for batch in token_budget_batches(samples(), tc.batch_tokens):
        loss, n = batch_loss(model, batch, device)
        (loss / max(n, 1) / tc.accum).backward()
        run_loss, run_sents, micro = run_loss + loss.item(), run_sents + n, micro + 1
        state["docs_seen"] += len(batch)
        window_docs += len(batch)
        if micro % tc.accum:
            continue
        state["update"] += 1
        factor = lr_factor(state["update"], tc.warmup) * cooldown_factor(state["update"], tc.max_updates, tc.cooldown)
        for group in optim.param_groups:
            group["lr"] = group["peak"] * factor
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        state["wall_s"] = time.monotonic() - started
        if state["update"] % 10 == 0:
            rate = window_docs / (time.monotonic() - window_start)
            log.info("update %d docs %d loss %.4f %.2f docs/s lr_enc %.2e", state["update"], state["docs_seen"], run_loss / max(run_sents, 1), rate, tc.lr_encoder * factor)
            run_loss, run_sents, window_start, window_docs = 0.0, 0, time.monotonic(), 0
        if state["update"] % tc.eval_every == 0:
            evaluate_and_keep_best()
        if state["update"] >= tc.max_updates or state["wall_s"] >= tc.max_minutes * 60:
            break
    evaluate_and_keep_best()
    summary = {"train_config": asdict(tc), **{k: v for k, v in state.items()}}
    (out / "train_log.json").write_text(json.dumps(summary, indent=2))
    return summary
