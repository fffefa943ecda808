"""A training run from a pack: time-boxed, checkpointed, resumable, on a CPU or a GPU.

One run lives in one folder:
- checkpoint.pt: weights, optimizer, schedule and data position, written at least every `checkpoint_minutes` and
  when the run stops; a run started again in the same folder goes on from it (same pack, same settings);
- best/: the model directory of the best evaluation so far (validation ROUGE-1, ties broken by validation loss);
- figures.json: settings, the learning curve (documents seen, ROUGE-1 of the model and Lead-3 on the same
  documents, validation loss, wall time) and the best point;
- run.log.

Every evaluation summarizes the pack's validation documents whole, through the inference engine, and scores them as
`docsum eval` does (bertsum.evaluate): the curve predicts what users get. Where rouge-score is not installed (a bare
GPU host) the picks are recorded and scored later.

The schedule is PreSumm's (linear warmup, then step^-0.5 decay), with a linear anneal to 0 over the last `cooldown`
share of `plan_docs`; it depends only on updates and documents seen, so a resumed run continues it exactly. Data come
in seeded passes over the training documents, cut into buffers of `sort_buffer` documents, each length-sorted into
token-budget batches that are then shuffled (PreSumm's batching); the position is (pass, buffer, batch).

Imports only torch, numpy and the model library (and rouge-score where installed).
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from docsum.bertsum import pack as packs
from docsum.bertsum.engine import InferenceEngine
from docsum.bertsum.loop import (
    LoopSettings,
    Planned,
    Sample,
    cooldown_factor,
    fit,
    lr_factor,
    make_optimizer,
    prefetch,
    token_budget_batches,
    validation_loss,
)
from docsum.bertsum.precision import compute_dtype, dtype_name
from docsum.bertsum.preprocess import encoder_for, tokenize_sentences, tokenizer_fingerprint

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best"
FIGURES = "figures.json"


@dataclass
class RunSettings:
    pack: str
    out: str
    minutes: float = 150.0  # training wall clock of this invocation; the run stops cleanly after it
    plan_docs: int = 0  # training documents the schedule spans over all invocations (0: one pass over the pack)
    batch_tokens: int = 4096  # padded tokens per micro-batch
    accum: int = 4  # micro-batches per update
    lr_encoder: float = 1e-4
    lr_head: float = 1e-3
    warmup: int = 300  # updates
    cooldown: float = 0.25  # share of plan_docs over which the learning rate anneals linearly to 0
    dropout: float = 0.0  # every dropout of encoder and head (see the README's training section for why 0)
    precision: str = "auto"  # "auto": bf16 where the device runs it natively (AMX, AVX512-BF16, CUDA), else fp32
    eval_minutes: float = 15.0  # wall time between evaluations
    checkpoint_minutes: float = 10.0  # wall time between checkpoints
    valid_docs: int = 1000  # packed validation documents for the loss (0: all)
    r1_docs: int = 0  # validation documents summarized for ROUGE (0: all the pack holds)
    max_train_docs: int = 0  # use only the first N training documents (0: all)
    sort_buffer: int = 1024
    eval_batch_tokens: int = 8192  # the engine's token budget (its default on a CPU)
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    checkpoint: str | None = None  # where checkpoint.pt goes (default: in `out`; a GPU host keeps it off $OUT)
    init: str | None = None  # a saved summarizer to start from instead of the pack's fresh head (a continued run)
    skip_docs: int = 0  # a new run starts its first pass after this many documents (those `init` already saw)


def rouge_available() -> bool:
    try:
        import rouge_score  # noqa: F401
    except ImportError:
        return False
    return True


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def planned_batches(train: list[Sample], s: RunSettings, start: tuple[int, ...], stop) -> Iterator[Planned]:
    """Batches from `start` = (pass, buffer, batch) on, until `stop()` is true; each carries the position after it."""
    epoch, first_buffer, first_batch = start
    n_buffers = math.ceil(len(train) / s.sort_buffer)
    while True:
        order = list(range(len(train)))
        random.Random(f"{s.seed}/order/{epoch}").shuffle(order)
        for b in range(first_buffer, n_buffers):
            chunk = [train[i] for i in order[b * s.sort_buffer : (b + 1) * s.sort_buffer]]
            batches = list(token_budget_batches(chunk, s.batch_tokens, buffer=len(chunk)))
            random.Random(f"{s.seed}/batches/{epoch}/{b}").shuffle(batches)
            for k in range(first_batch, len(batches)):
                if stop():
                    return
                yield Planned(batches[k], (epoch, b, k + 1))
            first_batch = 0
        first_buffer = 0
        epoch += 1
        log.info("pass %d over the training documents", epoch)


def first_position(s: RunSettings) -> tuple[int, int, int]:
    """Where a new run starts: after `skip_docs` documents of the first pass, rounded up to whole sort buffers, so
    that a run continued from a model (`init`) reads none of the documents that model was trained on (same seed)."""
    return (0, -(-s.skip_docs // s.sort_buffer), 0)


def run(s: RunSettings) -> dict:
    """Train (or resume) in `s.out` for `s.minutes`; returns the figures (also in figures.json)."""
    t0 = time.monotonic()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(s.checkpoint) if s.checkpoint else out / CHECKPOINT
    if s.threads:
        torch.set_num_threads(s.threads)
    pack_dir = Path(s.pack)
    manifest = packs.read_manifest(pack_dir, verify=True)
    device = torch.device(s.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = compute_dtype(device, s.precision)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"

    model = packs.build_model(pack_dir, manifest, dropout=s.dropout, full_embeddings=installed_word_embeddings())
    if s.init and not ckpt_path.exists():
        start_from(model, Path(s.init))
    model.to(device)
    tokenizer = model.tokenizer
    train = packs.load_samples(pack_dir / "train.npz.xz", tokenizer, manifest["use_interval"])
    valid = packs.load_samples(pack_dir / "valid.npz.xz", tokenizer, manifest["use_interval"])
    train, valid = train[: s.max_train_docs or None], valid[: s.valid_docs or None]
    valid_text = packs.read_json_xz(pack_dir / "valid_text.json.xz")[: s.r1_docs or None]
    plan_docs = s.plan_docs or len(train)
    engine = InferenceEngine(model, max_batch_tokens=s.eval_batch_tokens, amp_dtype=amp)
    valid_docs = [v["sentences"] for v in valid_text]
    valid_tokens = tokenize_sentences(
        valid_docs, encoder_for(tokenizer), tokenizer_fingerprint(tokenizer, model.config), model.config.max_sent_tokens
    )
    bench = None
    if rouge_available():
        from docsum.bertsum.evaluate import Benchmark

        bench = Benchmark([(v["sentences"], v["reference"]) for v in valid_text], oracle=False)
        if len(bench.docs) != len(valid_text):
            raise ValueError("the pack's validation documents must all have sentences and a reference")

    optim = make_optimizer(model, s.lr_encoder, s.lr_head)
    state: dict = {"update": 0, "docs_seen": 0, "wall_s": 0.0, "position": first_position(s)}
    history: list[dict] = []
    best: dict = {}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt["pack_sha256"] != _pack_id(manifest):
            raise ValueError(f"{ckpt_path} was trained on another pack; give another --out to start afresh")
        model.load_state_dict(ckpt["model"])
        optim.load_state_dict(ckpt["optim"])
        state, history, best = ckpt["state"], ckpt["history"], ckpt["best"]
        log.info(
            "resumed at update %d, %d documents seen, %.0f s trained",
            state["update"],
            state["docs_seen"],
            state["wall_s"],
        )
    budget_end = state["wall_s"] + s.minutes * 60
    figures: dict = {
        "status": "training",
        "settings": asdict(s),
        "plan_docs": plan_docs,
        "precision": dtype_name(amp),
        "hardware": hardware,
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "pack": {k: v for k, v in manifest.items() if k != "files"},
        "train_docs": len(train),
        "valid_loss_docs": len(valid),
        "valid_r1_docs": len(valid_text),
        "history": history,
        "best": best,
    }
    log.info(
        "device %s (%s), %s, dropout %g; %d training documents, plan %d; validation: loss on %d, ROUGE on %d%s",
        device,
        hardware,
        dtype_name(amp),
        s.dropout,
        len(train),
        plan_docs,
        len(valid),
        len(valid_text),
        "" if bench is not None else " (picks recorded: rouge-score is not installed here)",
    )

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_name(ckpt_path.name + ".tmp")
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": model.state_dict(),
                "optim": optim.state_dict(),
                "state": state,
                "history": history,
                "best": best,
                "settings": asdict(s),
                "pack_sha256": _pack_id(manifest),
            },
            tmp,
        )
        tmp.replace(ckpt_path)
        _write_json(out / FIGURES, figures)
        timer["checkpoint"] = time.monotonic()

    def evaluate() -> None:
        started = time.monotonic()
        vloss = validation_loss(model, valid, s.batch_tokens * 4, device, amp)
        picks = [x.indices for x in engine.summarize(valid_docs, k=3, tokens=valid_tokens)]
        point = {
            "update": state["update"],
            "docs_seen": state["docs_seen"],
            "epochs": round(state["docs_seen"] / max(len(train), 1), 3),
            "wall_s": round(state["wall_s"], 1),
            "valid_loss": round(vloss, 5),
        }
        if bench is not None:
            scores = bench.score(picks)
            point["r1"], point["lead3_r1"] = scores["model"]["rouge1"], scores["lead3"]["rouge1"]
            point["rouge"] = {"model": scores["model"], "lead3": scores["lead3"]}
        else:
            point["picks"] = picks
        point["eval_s"] = round(time.monotonic() - started, 1)
        history.append(point)
        key = (point.get("r1", 0.0), -vloss)
        if not best or key > (best.get("r1", 0.0), -best["valid_loss"]):
            best.clear()
            best.update({k: v for k, v in point.items() if k != "picks"})
            model.save_pretrained(out / BEST, dtype=torch.float16)
        log.info(
            "eval: %d documents seen, valid loss %.4f, R1 %s (Lead-3 %s) in %.0f s; best R1 %s at %d documents",
            state["docs_seen"],
            vloss,
            point.get("r1", "-"),
            point.get("lead3_r1", "-"),
            point["eval_s"],
            best.get("r1", "-"),
            best["docs_seen"],
        )
        save_checkpoint()

    def schedule(update: int, elapsed: float) -> float:
        return lr_factor(update, s.warmup) * cooldown_factor(state["docs_seen"], plan_docs, s.cooldown * plan_docs)

    timer = {"checkpoint": time.monotonic()}

    def every_update(st: dict) -> None:
        if time.monotonic() - timer["checkpoint"] >= s.checkpoint_minutes * 60:
            save_checkpoint()

    if state["docs_seen"] >= plan_docs:
        log.info("the plan of %d documents is done; nothing to train (raise --plan-docs to go on)", plan_docs)
        figures["status"] = "complete"
        _write_json(out / FIGURES, figures)
        return figures

    stream = planned_batches(train, s, tuple(state["position"]), lambda: state["docs_seen"] >= plan_docs)
    batches = prefetch(stream, tokenizer.pad_token_id) if device.type == "cuda" else stream
    settings = LoopSettings(
        accum=s.accum,
        max_updates=10**9,
        max_seconds=budget_end,
        eval_every=10**9,
        eval_seconds=s.eval_minutes * 60,
        log_every=50,
        amp=amp,
    )
    train_started = time.monotonic()
    fit(model, batches, optim, state, settings, schedule, evaluate, device, every_update)
    figures["status"] = "complete" if state["docs_seen"] >= plan_docs else "stopped"
    figures["this_invocation_s"] = round(time.monotonic() - train_started, 1)
    figures["total_wall_s"] = round(state["wall_s"], 1)
    save_checkpoint()
    log.info(
        "%s: %d updates, %d documents (%.2f passes), %.0f s trained in all; this invocation %.0f s (setup %.0f s)",
        figures["status"],
        state["update"],
        state["docs_seen"],
        state["docs_seen"] / max(len(train), 1),
        state["wall_s"],
        time.monotonic() - t0,
        train_started - t0,
    )
    return figures


def start_from(model, init: Path) -> None:
    """Load a saved summarizer's weights into the pack's model: both must be the same architecture. The word
    embeddings stay the pack's (frozen in training, and a saved model may leave the bundled matrix out)."""
    from docsum.bertsum.model import WORD_EMBEDDINGS_KEY, ExtSummarizer

    saved = ExtSummarizer.from_pretrained(init, device="cpu").state_dict()
    saved.pop(WORD_EMBEDDINGS_KEY, None)
    try:
        missing, unexpected = model.load_state_dict(saved, strict=False)
    except RuntimeError as exc:  # shapes differ
        raise ValueError(f"{init} is not a model of this pack's architecture: {str(exc).splitlines()[0]}") from None
    missing = [k for k in missing if k != WORD_EMBEDDINGS_KEY and not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(
            f"{init} is not a model of this pack's architecture (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    log.info("starting from the weights of %s", init)


def _pack_id(manifest: dict) -> str:
    """The pack's identity: the hash of its training file."""
    return manifest["files"]["train.npz.xz"]["sha256"]


def installed_word_embeddings() -> torch.Tensor | None:
    """The installed encoder's full word-embedding matrix (a GPU host has none: the pack's rows serve there)."""
    try:
        from docsum.bertsum.model import bundled_word_embeddings

        return bundled_word_embeddings(None)
    except (ImportError, FileNotFoundError, OSError):
        return None
