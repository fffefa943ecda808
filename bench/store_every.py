"""What storing a summarize chunk in slices costs: the engine over a whole chunk at once vs the same chunk in the
slices a worker stores one by one (the default, by token budget, and DOCSUM_STORE_EVERY=N documents), same model,
documents and token budget.

    python bench/store_every.py --chunk 64 --every 4 8 16 --device cpu [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import load_documents  # the benchmark's mixed document set (CNN/DM, BBC, snippets)

from docsum.bertsum.engine import InferenceEngine
from docsum.config import Settings
from docsum.services.models import load_model, model_path
from docsum.services.summarize import document_chars, slices
from docsum.worker.tasks import STORE_BATCHES


def timed(
    summarizer, docs: list[list[str]], every: int | None, tokens: int | None, repeats: int
) -> tuple[float, float]:
    """Best of `repeats` (wall, CPU) seconds of summarizing `docs` in slices of `every` (None: all at once). CPU time
    (all threads of this process) is the steadier figure on a shared machine."""
    parts = slices(docs, every, tokens, document_chars)  # exactly as the worker slices a chunk
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        for part in parts:
            summarizer.summarize(part, k=3)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk", type=int, default=64, help="documents per chunk (DOCSUM_CHUNK_SIZE)")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 4, 8, 16], help="slice sizes to compare")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    settings = Settings()
    budget = args.max_batch_tokens or settings.max_batch_tokens
    summarizer = load_model(model_path(settings), args.device)
    summarizer.use_engine(InferenceEngine(summarizer, max_batch_tokens=budget))
    docs = load_documents(args.chunk)
    summarizer.summarize(docs[:4], k=3)  # warm up

    rows = []
    # (label, every, tokens): the whole chunk, the default (by token budget), then fixed document counts.
    modes = [
        ("whole chunk", None, None),
        ("auto", None, STORE_BATCHES * budget),
        *((str(n), n, None) for n in args.every),
    ]
    for label, every, tokens in modes:
        seconds, cpu = timed(summarizer, docs, every, tokens, args.repeats)
        n_slices = len(slices(docs, every, tokens, document_chars))
        rows.append(
            {
                "mode": label,
                "slices": n_slices,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "docs_per_s": len(docs) / seconds,
            }
        )
    for row in rows:
        row["cpu_vs_whole"] = rows[0]["cpu_seconds"] / row["cpu_seconds"]
    print(f"{len(docs)} documents, max_batch_tokens {budget}, device {summarizer.device}, best of {args.repeats}")
    print(f"{'store every':>12} {'slices':>6} {'wall s':>8} {'docs/s':>8} {'CPU s':>8} {'CPU: whole/this':>16}")
    for row in rows:
        print(
            f"{row['mode']:>12} {row['slices']:6d} {row['seconds']:8.2f} {row['docs_per_s']:8.2f} "
            f"{row['cpu_seconds']:8.2f} {row['cpu_vs_whole']:16.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"chunk": len(docs), "max_batch_tokens": budget, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
