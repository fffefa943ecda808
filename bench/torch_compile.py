#!/usr/bin/env python3
"""Does `torch.compile` of the encoder pay for itself within a batch of documents? The inference engine runs the same
documents eagerly, then with the encoder compiled (`dynamic=True`: window lengths vary from batch to batch), twice:
the first compiled pass pays the compilation, the second shows the steady speed.

    python bench/torch_compile.py --n 300                  # the shipped model, the default precision of this CPU
    python bench/torch_compile.py --n 300 --json out.json  # the figures as JSON too

Prints docs/s eager and compiled, the compile overhead, how many documents it takes to win it back (none if the
compiled encoder is no faster), and whether the compiled scores pick the same sentences. The documents are those of
`bench/inference.py` (thirds of long CNN/DM articles, BBC articles and short snippets). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/inference.py: its documents and model loader

import torch  # noqa: E402
from inference import load_documents, load_model  # noqa: E402

from docsum.bertsum.engine import InferenceEngine  # noqa: E402
from docsum.config import Settings  # noqa: E402


def top_k(scores: list[list[float]], k: int = 3) -> list[list[int]]:
    return [sorted(range(len(s)), key=lambda i: -s[i])[:k] for s in scores]


def timed_pass(engine: InferenceEngine, docs: list[list[str]]) -> tuple[float, list[list[float]]]:
    began = time.perf_counter()
    scores = engine.score(docs)
    return time.perf_counter() - began, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="documents per pass")
    parser.add_argument("--model", default=None, help="model directory (default: DOCSUM_MODEL or the shipped one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    settings = Settings()
    configured = settings.model_path
    model, note = load_model(args.model or (str(configured) if configured else None), args.device)
    docs = load_documents(args.n)
    engine = InferenceEngine(model, max_batch_tokens=settings.max_batch_tokens)
    engine.score(docs[:4])  # warm-up: first-call costs of the eager kernels
    eager_s, eager_scores = timed_pass(engine, docs)

    encoder = model.bert.model
    model.bert.model = torch.compile(encoder, dynamic=True)
    try:
        first_s, _ = timed_pass(engine, docs)  # compiles (once per new shape family) as it goes
        steady_s, compiled_scores = timed_pass(engine, docs)
    finally:
        model.bert.model = encoder

    n = len(docs)
    overhead = first_s - steady_s
    saved_per_doc = eager_s / n - steady_s / n
    break_even = overhead / saved_per_doc if saved_per_doc > 0 else None
    same = sum(a == b for a, b in zip(top_k(eager_scores), top_k(compiled_scores), strict=True))
    largest = max(
        (abs(x - y) for a, b in zip(eager_scores, compiled_scores, strict=True) for x, y in zip(a, b, strict=True)),
        default=0.0,
    )
    figures = {
        "documents": n,
        "precision": engine.stats.dtype,
        "eager_docs_per_s": round(n / eager_s, 2),
        "compiled_first_pass_s": round(first_s, 1),
        "compiled_docs_per_s": round(n / steady_s, 2),
        "compile_overhead_s": round(overhead, 1),
        "break_even_docs": None if break_even is None else round(break_even),
        "same_picks": same,
        "largest_score_difference": largest,
    }
    print(f"{n} documents{note}, threads {torch.get_num_threads()}, precision {figures['precision']}")
    print(f"eager     {figures['eager_docs_per_s']:>7.2f} docs/s ({eager_s:.1f} s)")
    print(
        f"compiled  {figures['compiled_docs_per_s']:>7.2f} docs/s on the second pass ({steady_s:.1f} s); "
        f"the first pass took {first_s:.1f} s (compile overhead {overhead:.1f} s)"
    )
    if break_even is None:
        print("the compiled encoder is no faster: compiling never pays back")
    else:
        print(f"pays back after about {break_even:,.0f} documents")
    print(f"same top-3 picks: {same}/{n}; largest score difference {largest:.2e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
