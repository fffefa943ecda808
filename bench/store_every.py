"""What committing every N documents of a summarize chunk costs: the engine over a whole chunk at once vs the same
chunk in slices of N (what a worker does with DOCSUM_STORE_EVERY=N), same model, documents and token budget.

    python bench/store_every.py --chunk 64 --every 1 4 8 16 --device cpu [--json out.json]
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


def timed(summarizer, docs: list[list[str]], every: int | None, repeats: int) -> float:
    """Best of `repeats` wall times of summarizing `docs` in slices of `every` (None: all at once)."""
    step = every or len(docs)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(docs), step):
            summarizer.summarize(docs[start : start + step], k=3)
        best = min(best, time.perf_counter() - started)
    return best


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

    whole = timed(summarizer, docs, None, args.repeats)
    rows = [{"every": None, "seconds": whole, "docs_per_s": len(docs) / whole, "relative": 1.0}]
    for every in args.every:
        seconds = timed(summarizer, docs, every, args.repeats)
        rows.append({"every": every, "seconds": seconds, "docs_per_s": len(docs) / seconds, "relative": whole / seconds})
    print(f"{len(docs)} documents, max_batch_tokens {budget}, device {summarizer.device}, best of {args.repeats}")
    print(f"{'store every':>12} {'seconds':>8} {'docs/s':>8} {'vs whole':>9}")
    for row in rows:
        label = "whole chunk" if row["every"] is None else str(row["every"])
        print(f"{label:>12} {row['seconds']:8.2f} {row['docs_per_s']:8.2f} {row['relative']:9.2f}")
    if args.json:
        args.json.write_text(json.dumps({"chunk": len(docs), "max_batch_tokens": budget, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
