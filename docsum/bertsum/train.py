"""Fine-tune BertSumExt on oracle labels from JSONL files (`docsum train`); the loop itself is bertsum/loop.py.

Articles are split, windowed and labelled with the greedy oracle on the fly; checkpoints every N updates and resume;
validation loss picks the best checkpoint; one seed for data order and initialisation.

Resume continues after the last article pulled into the sorting buffer (up to 64 articles that were buffered but not
yet trained are skipped), which keeps the data order a simple prefix of one seeded shuffle.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.data import Example, Splitter, normalized_hash, read_examples, read_records, to_example
from docsum.bertsum.loop import (  # noqa: F401  (re-exported: the engine's names as they were before it moved)
    LoopSettings,
    Sample,
    batch_loss,
    cooldown_factor,
    fit,
    lr_factor,
    make_optimizer,
    token_budget_batches,
    validation_loss,
)
from docsum.bertsum.model import ExtSummarizer, bundled_encoder_dir, freeze_word_embeddings
from docsum.bertsum.oracle import greedy_oracle
from docsum.bertsum.preprocess import prepare

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
    lr_encoder: float = 1e-4
    lr_head: float = 1e-3
    warmup: int = 100
    max_updates: int = 100_000
    cooldown: int = 0  # the last `cooldown` updates before max_updates anneal the learning rate linearly to zero
    max_minutes: float = 60.0  # wall-clock budget; the run stops cleanly and keeps its best checkpoint
    valid_docs: int = 300
    eval_every: int = 100
    seed: int = 0
    # Ablation switches.
    use_interval: bool = True
    attn_bias: bool = False
    ext_layers: int = 2
    threads: int | None = None


def label_example(
    ex: Example, tokenizer: PreTrainedTokenizerBase, cfg: BertSumConfig, max_windows: int
) -> Sample | None:
    """Prepare an article (first `max_windows` windows) and label its sentences with the greedy oracle over
    exactly the sentences the model sees. PreSumm drops documents with fewer than 3 sentences from training."""
    doc = prepare(ex.sentences, tokenizer, cfg)
    doc.windows = doc.windows[:max_windows]
    n_seen = sum(len(w.cls_positions) for w in doc.windows)
    doc.kept = doc.kept[:n_seen]
    if n_seen < 3 or not ex.reference:
        return None
    oracle = set(greedy_oracle([ex.sentences[i] for i in doc.kept], ex.reference))
    return Sample(doc, [1.0 if j in oracle else 0.0 for j in range(n_seen)])


def make_sample(ex: Example, model: ExtSummarizer, cfg: BertSumConfig, max_windows: int) -> Sample | None:
    return label_example(ex, model.tokenizer, cfg, max_windows)


def training_records(files: list[str], seed: int, limit: int | None, exclude: set[str]) -> list[dict]:
    """All usable records of the training files, shuffled together (seeded); any article also in `exclude` (test
    article hashes) is refused with an error."""
    records = [r for f in files for r in read_records(f)]
    leaked = [r.get("id") for r in records if normalized_hash(r["article"]) in exclude]
    if leaked:
        raise ValueError(f"{len(leaked)} training articles are test articles (e.g. {leaked[:3]})")
    random.Random(seed).shuffle(records)
    return records[:limit] if limit else records


def interleave(files: list[str], split: Splitter, seed: int, limit: int | None, exclude: set[str]) -> list[Example]:
    """`training_records` as examples; only the kept articles are split into sentences."""
    return [to_example(r, split) for r in training_records(files, seed, limit, exclude)]


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
    model = ExtSummarizer.untrained(encoder_dir, config)
    if tc.encoder is None:
        freeze_word_embeddings(model)
    return model


def train(tc: TrainConfig, split: Splitter, progress: Callable[[dict], None] | None = None) -> dict:
    """Run (or resume) a training run in `tc.out`; returns the run summary (also written to `train_log.json`).
    `progress`, if given, is called with the run state (update, docs_seen, wall_s, best_valid) after every update."""
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
    examples = interleave(tc.train_files, split, tc.seed, tc.max_docs, test_hashes)
    per_file = tc.valid_docs // max(len(tc.valid_files), 1)
    valid_examples = (ex for f in tc.valid_files for ex in read_examples(f, split, per_file))
    valid = [s for ex in valid_examples if (s := make_sample(ex, model, cfg, tc.max_windows)) is not None]

    optim = make_optimizer(model, tc.lr_encoder, tc.lr_head)
    state = {"update": 0, "consumed": 0, "docs_seen": 0, "best_valid": float("inf"), "history": [], "wall_s": 0.0}
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():  # resume
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optim.load_state_dict(ckpt["optim"])
        state = ckpt["state"]
        log.info("resumed at update %d (%d articles consumed)", state["update"], state["consumed"])

    def samples() -> Iterator[Sample]:
        for ex in examples[state["consumed"] :]:
            state["consumed"] += 1
            s = make_sample(ex, model, cfg, tc.max_windows)
            if s is not None:
                yield s

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {"model": model.state_dict(), "optim": optim.state_dict(), "state": state, "train_config": asdict(tc)}, tmp
        )
        tmp.replace(ckpt_path)

    def evaluate_and_keep_best() -> None:
        vloss = validation_loss(model, valid, tc.batch_tokens, device)
        state["history"].append(
            {
                "update": state["update"],
                "docs_seen": state["docs_seen"],
                "valid_loss": vloss,
                "wall_s": round(state["wall_s"]),
            }
        )
        if vloss < state["best_valid"]:
            state["best_valid"] = vloss
            model.config.trained = True
            model.save_pretrained(out / "best")
        log.info(
            "update %d docs %d valid_loss %.4f (best %.4f)",
            state["update"],
            state["docs_seen"],
            vloss,
            state["best_valid"],
        )
        save_checkpoint()

    def schedule(update: int, elapsed: float) -> float:
        return lr_factor(update, tc.warmup) * cooldown_factor(update, tc.max_updates, tc.cooldown)

    settings = LoopSettings(
        accum=tc.accum, max_updates=tc.max_updates, max_seconds=tc.max_minutes * 60, eval_every=tc.eval_every
    )
    fit(
        model,
        token_budget_batches(samples(), tc.batch_tokens),
        optim,
        state,
        settings,
        schedule,
        evaluate_and_keep_best,
        device,
        progress,
    )
    summary = {"train_config": asdict(tc), **{k: v for k, v in state.items()}}
    (out / "train_log.json").write_text(json.dumps(summary, indent=2))
    return summary
