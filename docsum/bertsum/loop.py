"""The training engine shared by `docsum train` (JSONL in, CPU or GPU) and the packed GPU run (bench/gpu_train.py).

Imports only torch and the model library, so a machine with just torch and transformers can run it: samples come
in already prepared (`Sample`: encoder windows and oracle labels), the caller decides where they come from.

Masked binary cross-entropy per sentence; Adam with PreSumm's warmup schedule (linear warmup, then step^-0.5 decay),
scaled to our encoder: peak learning rates per parameter group instead of PreSumm's 2e-3*warmup^-0.5; token-budget
batches of length-sorted documents; gradient accumulation; gradient clipping; optional bf16 autocast.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from docsum.bertsum.batching import TensorBatch, collate
from docsum.bertsum.model import ExtSummarizer
from docsum.bertsum.preprocess import PreparedDoc

log = logging.getLogger(__name__)


@dataclass
class Sample:
    doc: PreparedDoc
    labels: list[float]


def token_budget_batches(samples: Iterable[Sample], budget: int, buffer: int = 64) -> Iterator[list[Sample]]:
    """Length-sorted batches within buffers of `buffer` samples (PreSumm), count x longest <= budget."""
    pool: list[Sample] = []

    def drain(pool: list[Sample]) -> Iterator[list[Sample]]:
        pool.sort(key=lambda s: max(len(w.input_ids) for w in s.doc.windows) * len(s.doc.windows))
        batch: list[Sample] = []
        longest = 0
        for s in pool:
            n_windows = sum(len(b.doc.windows) for b in batch) + len(s.doc.windows)
            width = max(longest, max(len(w.input_ids) for w in s.doc.windows))
            if batch and n_windows * width > budget:
                yield batch
                batch, width = [], max(len(w.input_ids) for w in s.doc.windows)
            batch.append(s)
            longest = width
        if batch:
            yield batch

    for s in samples:
        pool.append(s)
        if len(pool) >= buffer:
            yield from drain(pool)
            pool = []
    if pool:
        yield from drain(pool)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """bf16 autocast where asked (the GPU run); fp32 otherwise."""
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass
class Planned:
    """A batch of samples and where the data stream stands once it is trained (a resumed run starts there)."""

    samples: list[Sample]
    position: tuple[int, ...]


@dataclass
class Collated:
    """A batch made ready on the CPU (possibly in a background thread): its samples, tensors and labels."""

    samples: list[Sample]
    batch: TensorBatch
    labels: torch.Tensor  # (D, S) oracle labels, 0 on padding
    position: tuple[int, ...] | None = None


def collate_samples(samples: list[Sample] | Planned, pad_id: int, pin: bool = False) -> Collated:
    position = samples.position if isinstance(samples, Planned) else None
    samples = samples.samples if isinstance(samples, Planned) else samples
    batch = collate([s.doc for s in samples], pad_id)
    labels = torch.zeros(batch.sent_mask.shape)
    for i, s in enumerate(samples):
        labels[i, : len(s.labels)] = torch.tensor(s.labels)
    if pin:
        batch, labels = batch.pin_memory(), labels.pin_memory()
    return Collated(samples, batch, labels, position)


def prefetch(batches: Iterable[list[Sample] | Planned], pad_id: int, depth: int = 8) -> Iterator[Collated]:
    """Collate the next batches in a thread (pinned memory where CUDA is) while the GPU works on the current one."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    pin = torch.cuda.is_available()

    def run() -> None:
        try:
            for samples in batches:
                q.put(collate_samples(samples, pad_id, pin=pin))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            q.put(exc)
        q.put(done)

    threading.Thread(target=run, daemon=True, name="collate").start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def batch_logits(
    model: ExtSummarizer,
    samples: list[Sample] | Planned | Collated,
    device: torch.device,
    amp: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    ready = samples if isinstance(samples, Collated) else collate_samples(samples, model.tokenizer.pad_token_id)
    batch = ready.batch.to(device, non_blocking=True)
    with autocast(device, amp):
        logits = model(*batch.as_tuple())
    return logits.float(), batch.sent_mask


def batch_loss(
    model: ExtSummarizer,
    samples: list[Sample] | Planned | Collated,
    device: torch.device,
    amp: torch.dtype | None = None,
) -> tuple[torch.Tensor, int]:
    ready = samples if isinstance(samples, Collated) else collate_samples(samples, model.tokenizer.pad_token_id)
    logits, sent_mask = batch_logits(model, ready, device, amp)
    labels = ready.labels.to(device, non_blocking=True)
    mask = sent_mask.float()
    loss = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * mask).sum()
    return loss, int(mask.sum().item())


def lr_factor(update: int, warmup: int) -> float:
    """PreSumm/Noam: min(step^-0.5, step * warmup^-1.5), normalised to 1.0 at the end of warmup."""
    step = max(update, 1)
    return min(step**-0.5, step * warmup**-1.5) * math.sqrt(warmup)


def cooldown_factor(done: float, total: float, span: float) -> float:
    """1.0, then a linear ramp to 0 over the last `span` of `total` (annealing after the Noam schedule); `done` and
    the others count the same unit (updates, documents)."""
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (total - done) / span))


@torch.no_grad()
def validation_loss(
    model: ExtSummarizer, samples: list[Sample], budget: int, device: torch.device, amp: torch.dtype | None = None
) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in token_budget_batches(iter(samples), budget, buffer=len(samples) or 1):
        loss, n = batch_loss(model, batch, device, amp)
        total, count = total + loss.item(), count + n
    model.train()
    return total / max(count, 1)


def make_optimizer(model: ExtSummarizer, lr_encoder: float, lr_head: float) -> torch.optim.Adam:
    """Two parameter groups with their own peak learning rate; frozen parameters (word embeddings) left out."""
    head = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
    encoder = [p for n, p in model.named_parameters() if n.startswith("bert.") and p.requires_grad]
    return torch.optim.Adam(
        [{"params": encoder, "lr": lr_encoder, "peak": lr_encoder}, {"params": head, "lr": lr_head, "peak": lr_head}],
        betas=(0.9, 0.999),
        fused=any(p.is_cuda for p in encoder) or None,
    )


@dataclass
class LoopSettings:
    accum: int = 1
    max_updates: int = 100_000
    max_seconds: float = 3600.0  # wall clock of this loop (plus `state["wall_s"]` already spent when resuming)
    eval_every: int = 100  # updates between evaluations
    eval_seconds: float | None = None  # also evaluate when this much wall time passed since the last evaluation
    log_every: int = 10
    amp: torch.dtype | None = None


def fit(
    model: ExtSummarizer,
    batches: Iterable[list[Sample] | Planned | Collated],
    optim: torch.optim.Optimizer,
    state: dict,
    settings: LoopSettings,
    schedule: Callable[[int, float], float],
    evaluate: Callable[[], None],
    device: torch.device,
    progress: Callable[[dict], None] | None = None,
) -> None:
    """Train until the batches run out, `max_updates`, or the time budget; `evaluate` runs every `eval_every`
    updates (or `eval_seconds`) and once at the end. `schedule(update, elapsed_s)` scales each group's peak
    learning rate. `state` holds update, docs_seen and wall_s and is updated in place (the caller checkpoints it);
    batches that carry a position (`Planned`, `Collated`) leave the last trained one in `state["position"]`;
    `progress(state)`, if given, is called after every update (where a checkpoint is consistent)."""
    model.train()
    started = time.monotonic() - state["wall_s"]
    last_eval, evaluated_at = time.monotonic(), None
    run_loss, run_sents, micro = 0.0, 0, 0
    window_start, window_docs = time.monotonic(), 0
    for batch in batches:  # lists of samples, planned batches, or batches already collated (`prefetch`)
        loss, n = batch_loss(model, batch, device, settings.amp)
        (loss / max(n, 1) / settings.accum).backward()
        docs = len(batch if isinstance(batch, list) else batch.samples)
        if not isinstance(batch, list) and batch.position is not None:
            state["position"] = batch.position
        run_loss, run_sents, micro = run_loss + loss.item(), run_sents + n, micro + 1
        state["docs_seen"] += docs
        window_docs += docs
        if micro % settings.accum:
            continue
        state["update"] += 1
        factor = schedule(state["update"], time.monotonic() - started)
        for group in optim.param_groups:
            group["lr"] = group["peak"] * factor
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        state["wall_s"] = time.monotonic() - started
        if progress is not None:
            progress(state)
        if state["update"] % settings.log_every == 0:
            rate = window_docs / (time.monotonic() - window_start)
            peak = optim.param_groups[0]["peak"]
            log.info(
                "update %d docs %d loss %.4f %.2f docs/s lr_enc %.2e",
                state["update"],
                state["docs_seen"],
                run_loss / max(run_sents, 1),
                rate,
                peak * factor,
            )
            run_loss, run_sents, window_start, window_docs = 0.0, 0, time.monotonic(), 0
        due = state["update"] % settings.eval_every == 0
        if settings.eval_seconds is not None and time.monotonic() - last_eval >= settings.eval_seconds:
            due = True
        if due:
            evaluate()
            last_eval, evaluated_at = time.monotonic(), state["update"]
        if state["update"] >= settings.max_updates or state["wall_s"] >= settings.max_seconds:
            break
    state["wall_s"] = time.monotonic() - started
    if evaluated_at != state["update"]:  # the last update was not evaluated yet
        evaluate()
