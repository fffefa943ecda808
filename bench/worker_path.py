"""The summarize worker's whole path without a broker: database read, prepare, encode, write, in docs/s and MFU.

    python bench/worker_path.py --docs var/bench_docs.json.gz --device cuda --max-batch-tokens 65536

What a summarize task does to each chunk (`docsum.services.summarize.summarize_chunk`: start the jobs, read their
documents, run the engine, write summaries and job states), chunk after chunk, on a SQLite database in a temporary
folder (the GPU host has no PostgreSQL; bench/pipeline.py measures the same path through Redis and PostgreSQL).
Documents are stored with their sentences tokenized ahead, as ingest leaves them. MFU is the encoder's executed
FLOPs (padding included, as counted by bench/inference.py) over the measured bf16 (CUDA) or fp32 matmul peak.
Prints a table and, with --json, writes the figures. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from inference import encoder_flops, load_documents, matmul_peak
from sqlalchemy import insert

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.models import Document, DocumentStatus, sentence_skips_of
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.ingest.citations import sentence_info
from docsum.services import batches
from docsum.services.models import get_summarizer, resolve_model
from docsum.services.summarize import STAGES, summarize_chunk
from docsum.services.tokens import store_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="documents (the --docs file's, repeated if needed)")
    parser.add_argument("--docs", type=Path, default=None, help="sentence lists (bench/inference.py --export-docs)")
    parser.add_argument("--model", default=None, help="model directory (default: the configured/shipped model)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    if args.docs:
        with gzip.open(args.docs, "rt", encoding="utf-8") as f:
            pool = json.load(f)
    else:
        pool = load_documents(min(args.n, 600), 0)
    docs = [pool[i % len(pool)] for i in range(args.n)]
    folder = Path(tempfile.mkdtemp(prefix="docsum-worker-path-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    overrides = {
        k: v
        for k, v in {
            "max_batch_tokens": args.max_batch_tokens,
            "chunk_size": args.chunk_size,
            "model": args.model,
            "device": args.device,
        }.items()
        if v
    }
    settings = Settings(database_url=url, **overrides)
    upgrade(url)
    sessions = make_session_factory(settings)
    model = resolve_model(settings)
    with session_scope(sessions) as session:
        # As ingest stores them: with each sentence's record and candidate verdict (the worker reads those).
        rows = []
        for i, d in enumerate(docs):
            info = sentence_info(" ".join(d), d, paged=False)
            rows.append(
                {
                    "source_uri": f"bench://{i}",
                    "content_sha256": f"{i:064x}",
                    "sentences": d,
                    "text": " ".join(d),
                    "sentence_info": info,
                    "sentence_skips": sentence_skips_of(info),
                    "status": DocumentStatus.extracted,
                }
            )
        ids = list(session.scalars(insert(Document).returning(Document.id), rows))
    store_tokens(sessions, ids, model.path)
    summarizer = get_summarizer(settings, model.path)
    device = summarizer.device

    def run(job_ids: list[int]) -> dict[str, float]:
        stages = dict.fromkeys(STAGES, 0.0)
        for start in range(0, len(job_ids), settings.chunk_size):
            chunk = job_ids[start : start + settings.chunk_size]
            outcome = summarize_chunk(sessions, settings.max_deliveries, chunk, lambda p: summarizer, "bench")
            assert len(outcome.succeeded) == len(chunk), outcome
            for stage, seconds in outcome.timings.items():
                stages[stage] += seconds
        return stages

    def new_jobs(document_ids: list[int]) -> list[int]:
        with session_scope(sessions) as session:
            batch = batches.create_batch(session, "bench", model, batches.job_params(3))
            return batches.add_jobs(session, batch, document_ids)

    run(new_jobs(ids[:16]))  # warm-up: CUDA kernels, allocator, caches
    windows: list[int] = []
    original = summarizer.engine._make_batch

    def counting(buffer, batch):  # the executed window lengths, for FLOPs
        made = original(buffer, batch)
        windows.extend([made.input_ids.size(1)] * made.input_ids.size(0))
        return made

    summarizer.engine._make_batch = counting
    job_ids = new_jobs(ids)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    stages = run(job_ids)
    elapsed = time.perf_counter() - start
    flops = encoder_flops(summarizer, windows)
    peak = matmul_peak(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    dispose_engine(url)

    n = len(job_ids)
    figures = {
        "n": n,
        "device": str(device),
        "chunk_size": settings.chunk_size,
        "max_batch_tokens": settings.max_batch_tokens,
        "worker_docs_per_s": n / elapsed,
        "encoder_gflop_per_doc": flops / n / 1e9,
        "mfu": flops / elapsed / peak,
        "matmul_peak_tflops": peak / 1e12,
        "ms_per_doc": {stage: 1000 * seconds / n for stage, seconds in stages.items()},
    }
    print(
        f"worker path on {device} ({model.model_id}), {n} documents, chunks of {settings.chunk_size}, "
        f"max_batch_tokens {settings.max_batch_tokens}"
    )
    print(
        f"  {figures['worker_docs_per_s']:.1f} docs/s · MFU {100 * figures['mfu']:.1f}% of "
        f"{figures['matmul_peak_tflops']:.1f} TFLOP/s · {figures['encoder_gflop_per_doc']:.2f} GFLOP/doc"
    )
    print("  ms/doc: " + " · ".join(f"{s} {v:.3f}" for s, v in figures["ms_per_doc"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
