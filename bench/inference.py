"""Inference throughput: one document at a time vs naive fixed batches vs the token-budget engine.

    python bench/inference.py --n 60                                  # CPU
    python bench/inference.py --n 60 --json var/inference.json        # the figures as JSON too, for tracking
    python bench/inference.py --device cuda --max-batch-tokens 65536 --n 600
    python bench/inference.py --n 600 --export-docs docs.json.gz      # the documents, for a machine without the data
    python bench/inference.py --docs docs.json.gz --device cuda ...   # (bench/gpu_check.sh does both)
    python bench/inference.py --n 60 --profile                        # also the engine's top operators, per dtype

The documents are a mixed-length stream in shuffled order, equal thirds of: CNN/DM test articles (long: several
512-token windows), BBC articles (medium) and the first one to three sentences of other CNN articles (short),
split by ingest.sentences.split_sentences. Modes, each timed from sentences to scores (tokenization included):
  (a) alone  : one document per forward pass (model.forward(collate([doc])))
  (b) naive  : fixed batches of 16 documents in input order, padded to the batch's longest window
  (c) engine : bertsum.engine.InferenceEngine (length-sorted windows, padded-token budget batches), once in fp32 and
               once under bf16 autocast (what `auto` picks where the processor has native bf16: AMX, AVX512-BF16, CUDA),
               to summaries (top 3 with trigram blocking); the engine's stats split its time into stages: preparing
               batches, the encoder, the head, and the rest (selection)
Padding waste = share of the tokens the encoder computed that were padding. FLOPs count the encoder on real
tokens: 2 x linear-layer params x tokens + 4 x L^2 x H per layer and window (embeddings are lookups). The encoder's
achieved FLOP/s (executed, padding included, timed around the encoder calls of a separate engine run) is compared
with 2048x2048 matmuls in fp32 and in bf16 measured in the same run (8192x8192 on CUDA, where 2048 cannot fill it).
Modes (a) and (b) run in the engine's default precision.
Where the encoder's weights are not present (bench/gpu_check.sh carries only its config and tokenizer), the model
is built with random weights: throughput does not depend on their values. Prints a table; nothing here is a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from docsum.bertsum.batching import collate
from docsum.bertsum.engine import InferenceEngine
from docsum.bertsum.model import ExtSummarizer, resolve_device
from docsum.bertsum.preprocess import PreparedDoc, prepare
from docsum.config import Settings

DATA = Settings().shared_data
NAIVE_BATCH = 16


def _jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_documents(n: int, seed: int = 0) -> list[list[str]]:
    from docsum.ingest.sentences import split_sentences

    rng = random.Random(seed)
    third = max(1, n // 3)
    cnn = [r["article"] for r in _jsonl(DATA / "cnndm" / "test.jsonl.gz")]
    bbc = [r["article"] for r in _jsonl(DATA / "bbc" / "bbc.jsonl.gz") if "duplicate_of" not in r]
    long_docs = [split_sentences(a, "en") for a in cnn[:third]]
    medium = [split_sentences(a, "en") for a in rng.sample(bbc, third)]
    short = [split_sentences(a, "en")[: rng.randint(1, 3)] for a in cnn[third : third + n - 2 * third]]
    docs = long_docs + medium + short
    rng.shuffle(docs)  # a mixed stream, as a queue delivers it
    return docs


# ---- measurement helpers -----------------------------------------------------------------------------------------
class PeakMemory:
    """Peak memory during a block: CUDA max_memory_allocated, or the process RSS sampled every 5 ms."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def load_model(path: str | None, device: str | None) -> tuple[ExtSummarizer, str]:
    """The configured model; if its encoder weights are missing, the same architecture with random weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained-head warning: speed does not depend on the weights
        try:
            if path is None:
                return ExtSummarizer.untrained().eval().to(resolve_device(device)), ""
            return ExtSummarizer.from_pretrained(path, device=device), ""
        except OSError:
            if path is not None:
                raise
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.model import bundled_encoder_dir

    encoder_dir = bundled_encoder_dir()
    torch.manual_seed(0)
    encoder = AutoModel.from_config(
        AutoConfig.from_pretrained(encoder_dir), add_pooling_layer=False, attn_implementation="sdpa"
    )
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True, use_fast=True)
    model = ExtSummarizer(BertSumConfig(name="minilm-random"), encoder, tokenizer).eval().to(resolve_device(device))
    return model, " (random weights: the encoder's weights are not on this machine)"


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 2048, reps: int = 4) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up
    sync(device)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def encoder_flops(model: ExtSummarizer, window_lengths: list[int]) -> float:
    config = model.bert.model.config
    linear = sum(m.weight.numel() for m in model.bert.model.encoder.modules() if isinstance(m, torch.nn.Linear))
    return sum(2 * linear * n + config.num_hidden_layers * 4 * n * n * config.hidden_size for n in window_lengths)


@dataclass
class Result:
    name: str
    seconds: float
    docs: int
    real_tokens: int
    computed_tokens: int
    peak_bytes: int

    @property
    def waste(self) -> float:
        return 1 - self.real_tokens / self.computed_tokens


def _padded(docs: list[PreparedDoc]) -> tuple[int, int]:
    """(real, computed) tokens of one collate() call: every window padded to the longest, rounded up to 8."""
    lengths = [len(w.input_ids) for d in docs for w in d.windows]
    return sum(lengths), len(lengths) * (-(-max(lengths) // 8) * 8) if lengths else 0


def run_forward_batches(model: ExtSummarizer, docs: list[list[str]], batch_size: int) -> tuple[int, int]:
    """Modes (a) and (b): prepare, collate in input order, forward, sigmoid."""
    real = computed = 0
    pad_id = model.tokenizer.pad_token_id
    engine = InferenceEngine(model, max_batch_tokens=8)  # the engine's own precision choice, and its one region:
    # autocast casts the weights once per region, and keeps them only outside inference_mode
    with torch.no_grad(), engine.autocast():
        for i in range(0, len(docs), batch_size):
            prepared = [prepare(d, model.tokenizer, model.config) for d in docs[i : i + batch_size]]
            usable = [p for p in prepared if p.windows]
            if not usable:
                continue
            r, c = _padded(usable)
            real, computed = real + r, computed + c
            batch = collate(usable, pad_id).to(model.device, non_blocking=True)
            probs = torch.sigmoid(model(*batch.as_tuple()).float())
            probs.cpu().tolist()
    return real, computed


def timed(name: str, device: torch.device, n_docs: int, fn: Callable[[], tuple[int, int]]) -> Result:
    with PeakMemory(device) as memory:
        sync(device)
        start = time.perf_counter()
        real, computed = fn()
        sync(device)
        seconds = time.perf_counter() - start
    return Result(name, seconds, n_docs, real, computed, memory.peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="documents (equal thirds long / medium / short)")
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="engine budget (default: settings)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: DOCSUM_DEVICE, else CUDA if available)")
    parser.add_argument("--model", default=None, help="model directory (default: the configured/shipped model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", type=Path, help="read the documents (sentence lists, JSON .gz) instead of the data")
    parser.add_argument("--export-docs", type=Path, help="write the documents there and exit")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--profile", action="store_true", help="also profile one engine run per dtype (torch.profiler)")
    args = parser.parse_args()

    if args.export_docs:
        docs = load_documents(args.n, args.seed)
        with gzip.open(args.export_docs, "wt", encoding="utf-8") as f:
            json.dump(docs, f)
        print(f"wrote {len(docs)} documents to {args.export_docs}")
        return
    if args.docs:
        with gzip.open(args.docs, "rt", encoding="utf-8") as f:
            docs = json.load(f)[: args.n]
    else:
        docs = load_documents(args.n, args.seed)
    settings = Settings()
    configured = settings.model_path
    model, note = load_model(args.model or (str(configured) if configured else None), args.device)
    device = model.device
    engine = InferenceEngine(model, max_batch_tokens=args.max_batch_tokens or settings.max_batch_tokens)
    prepared = [prepare(d, model.tokenizer, model.config) for d in docs]
    windows = [len(w.input_ids) for p in prepared for w in p.windows]
    flops_total = encoder_flops(model, windows)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({name})  model {model.model_id}{note}  max_batch_tokens {engine.max_batch_tokens}")
    print(
        f"{len(docs)} documents, {sum(map(len, docs))} sentences, {len(windows)} windows, {sum(windows)} tokens "
        f"(windows per document: max {max(len(p.windows) for p in prepared)}); "
        f"encoder {flops_total / len(docs) / 1e9:.2f} GFLOP per document"
    )

    size = 8192 if device.type == "cuda" else 2048
    peaks = {"fp32": matmul_peak(device, torch.float32, size), "bf16": matmul_peak(device, torch.bfloat16, size)}
    engine.score(docs[:4])  # warm-up (allocator, kernels)

    results = [
        timed("(a) one at a time", device, len(docs), lambda: run_forward_batches(model, docs, 1)),
        timed(
            f"(b) naive batches of {NAIVE_BATCH}",
            device,
            len(docs),
            lambda: run_forward_batches(model, docs, NAIVE_BATCH),
        ),
    ]
    engines, encoder_rates, stats, stages = {}, {}, {}, {}
    for dtype in ("fp32", "bf16"):
        engines[dtype] = InferenceEngine(model, max_batch_tokens=engine.max_batch_tokens, amp_dtype=dtype)
        engines[dtype].score(docs[:4])  # warm-up of this precision's kernels

        def run_engine(e: InferenceEngine = engines[dtype]) -> tuple[int, int]:
            e.reset_stats()
            e.summarize(docs)
            return e.stats.real_tokens, e.stats.padded_tokens

        results.append(timed(f"(c) engine, {dtype}", device, len(docs), run_engine))
        stats[dtype] = engines[dtype].stats.as_dict()
        stages[dtype] = stage_seconds(engines[dtype], results[-1].seconds)
        encoder_rates[dtype] = encoder_rate(model, docs, engines[dtype], flops_total)

    print()
    print(f"{'mode':<28}{'docs/s':>9}{'tokens/s':>11}{'padding':>9}{'peak MiB':>10}{'GFLOP/s':>9}")
    for r in results:
        print(
            f"{r.name:<28}{r.docs / r.seconds:>9.2f}{r.real_tokens / r.seconds:>11.0f}{100 * r.waste:>8.1f}%"
            f"{r.peak_bytes / 2**20:>10.0f}{flops_total / r.seconds / 1e9:>9.1f}"
        )
    a, b, c32, c16 = results
    print()
    print(
        f"engine fp32 vs one-at-a-time: {a.seconds / c32.seconds:.2f}x   "
        f"vs naive batches: {b.seconds / c32.seconds:.2f}x   engine bf16 vs fp32: {c32.seconds / c16.seconds:.2f}x"
    )
    for dtype in ("fp32", "bf16"):
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in stats[dtype].items()}
        print(f"engine stats ({dtype}): {json.dumps(shown)}")
    print(f"\nstages, ms per document (share of the engine's time): {', '.join(STAGES)}")
    for dtype, seconds in stages.items():
        total = sum(seconds.values())
        shown = "  ".join(f"{1000 * v / len(docs):>7.2f} ({100 * v / total:>4.1f}%)" for v in seconds.values())
        print(f"  {dtype}: {shown}")
    print(f"matmul {size}x{size}: fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s")
    for dtype, rate in encoder_rates.items():
        print(
            f"encoder in {dtype} (engine batches): {rate / 1e9:.1f} GFLOP/s executed = "
            f"{100 * rate / peaks['fp32']:.0f}% of the fp32 matmul peak, {100 * rate / peaks['bf16']:.0f}% of the bf16"
        )
    if args.profile:
        for dtype, e in engines.items():
            print(f"\ntop operators of one engine run in {dtype}, by their own time:")
            print(profile_table(e, docs))
    if device.type == "cpu":
        print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.json:
        figures = {
            "device": str(device),
            "docs": len(docs),
            "docs_per_s": {r.name: round(r.docs / r.seconds, 3) for r in results},
            "engine_docs_per_s": {"fp32": round(len(docs) / c32.seconds, 3), "bf16": round(len(docs) / c16.seconds, 3)},
            "bf16_speedup": round(c32.seconds / c16.seconds, 3),
            "matmul_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
            "encoder_gflops": {k: round(v / 1e9, 1) for k, v in encoder_rates.items()},
            "stage_ms_per_doc": {
                dtype: {k: round(1000 * v / len(docs), 3) for k, v in seconds.items()}
                for dtype, seconds in stages.items()
            },
            "encoder_share_of_peak": {
                dtype: {peak: round(rate / peaks[peak], 3) for peak in peaks} for dtype, rate in encoder_rates.items()
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def profile_table(engine: InferenceEngine, docs: list[list[str]], rows: int = 12) -> str:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if engine.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        engine.summarize(docs)
    sort = "self_cuda_time_total" if engine.device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


STAGES = ("prepare", "encode", "head", "select")


def stage_seconds(engine: InferenceEngine, seconds: float) -> dict[str, float]:
    """Where an engine run's time went, from its stats: preparing batches (tokenizing, windows, packing), the encoder,
    the inter-sentence head, and the rest, which is selection (top-k with trigram blocking) and the engine's loop."""
    s = engine.stats
    return dict(zip(STAGES, (s.prepare_s, s.encode_s, s.head_s, seconds - s.prepare_s - s.encode_s - s.head_s)))


def encoder_rate(model: ExtSummarizer, docs: list[list[str]], engine: InferenceEngine, flops_total: float) -> float:
    """Executed encoder FLOP/s: time around each encoder call (synchronised) in one more run of `engine`; executed
    FLOPs are the real ones scaled by computed/real tokens (the batches' padded shapes, a close estimate)."""
    device = model.device
    encoder_time = [0.0]
    original = model.encode_windows

    def timed_encoder(*a, **k):
        sync(device)
        start = time.perf_counter()
        out = original(*a, **k)
        sync(device)
        encoder_time[0] += time.perf_counter() - start
        return out

    model.encode_windows = timed_encoder
    try:
        engine.reset_stats()
        engine.score(docs)
    finally:
        del model.encode_windows
    executed = flops_total * engine.stats.padded_tokens / engine.stats.real_tokens
    return executed / encoder_time[0]


if __name__ == "__main__":
    main()
