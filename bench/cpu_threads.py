#!/usr/bin/env python3
"""How to spend a CPU host's cores on inference: one process with every core, or several processes with fewer threads
each? Each layout runs the inference engine over the same documents, split evenly between its processes (each
process loads the model, warms up, then all start together); the wall time runs from that common start to the last
process's end.

    python bench/cpu_threads.py --n 120                     # layouts for this machine's cores, default precision
    python bench/cpu_threads.py --n 120 --precision fp32 --rounds 3 --json out.json

The layouts are P processes x T threads with P x T = the cores torch sees (1 x C, ..., C x 1), plus 1 x 1 for the
scaling of one process; `--rounds` repeats them in turn (the machine's speed drifts) and the table gives each
layout's best and median round. The documents are those of `bench/inference.py`. Prints a table; nothing here is a
test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/inference.py: its documents and model loader

import torch
from inference import load_documents, load_model


def _child(
    model_path: str | None,
    docs: list[list[str]],
    threads: int,
    precision: str,
    max_batch_tokens: int,
    ready: mp.Barrier,
    out: mp.Queue,
) -> None:
    torch.set_num_threads(threads)
    from docsum.bertsum.engine import InferenceEngine

    model, _ = load_model(model_path, "cpu")
    engine = InferenceEngine(model, max_batch_tokens=max_batch_tokens, amp_dtype=precision)
    engine.score(docs[:4])  # warm-up: first-call costs of the kernels
    ready.wait()
    began = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    engine.score(docs)
    out.put((began, time.perf_counter(), engine.stats.dtype))


def run_layout(
    processes: int, threads: int, docs: list[list[str]], model_path: str | None, precision: str, budget: int
) -> tuple[float, str]:
    """Wall seconds from the common start to the last process's end, and the dtype that ran."""
    ctx = mp.get_context("spawn")  # a fresh interpreter each: no torch thread pool inherited through fork
    ready, out = ctx.Barrier(processes), ctx.Queue()
    shares = [docs[i::processes] for i in range(processes)]
    children = [
        ctx.Process(target=_child, args=(model_path, share, threads, precision, budget, ready, out)) for share in shares
    ]
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    for child in children:
        child.join()
        if child.exitcode:
            raise SystemExit(f"a bench process exited with {child.exitcode}")
    return max(end for _, end, _ in results) - min(start for start, _, _ in results), results[0][2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=120, help="documents per layout and round")
    parser.add_argument("--rounds", type=int, default=2, help="times each layout runs, in turn")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--model", default=None, help="model directory (default: DOCSUM_MODEL or the shipped one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from docsum.config import Settings

    settings = Settings()
    model_path = args.model or (str(settings.model_path) if settings.model_path else None)
    cores = torch.get_num_threads()
    layouts = [(1, 1)] + [(p, cores // p) for p in range(1, cores + 1) if cores % p == 0]
    docs = load_documents(args.n)
    seconds: dict[str, list[float]] = {f"{p}x{t}": [] for p, t in layouts}
    dtype = ""
    for _ in range(args.rounds):
        for p, t in layouts:
            wall, dtype = run_layout(p, t, docs, model_path, args.precision, settings.max_batch_tokens)
            seconds[f"{p}x{t}"].append(wall)
            print(f"  {p} process(es) x {t} thread(s): {len(docs) / wall:.2f} docs/s", flush=True)

    print(f"\n{len(docs)} documents, {cores} cores, {dtype}, {args.rounds} round(s)")
    print(f"{'processes x threads':<22}{'best docs/s':>13}{'median docs/s':>15}{'vs 1 x cores':>14}")
    whole = f"1x{cores}"
    figures = {}
    for name, walls in seconds.items():
        best, median = len(docs) / min(walls), len(docs) / statistics.median(walls)
        ratio = statistics.median(seconds[whole]) / statistics.median(walls)
        figures[name] = {"best_docs_per_s": round(best, 3), "median_docs_per_s": round(median, 3)}
        print(f"{name:<22}{best:>13.2f}{median:>15.2f}{ratio:>13.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"docs": len(docs), "cores": cores, "dtype": dtype, "rounds": args.rounds, "layouts": figures}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
