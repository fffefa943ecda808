"""End-to-end summarize throughput through the queue versus the engine called directly.

    python bench/pipeline.py --n 100                              # the real model, CPU; the default n is 1000
    python bench/pipeline.py --null-model --json f.json           # the ceiling: a scorer that returns at once
    python bench/pipeline.py --null-model --chunk-size 64         # ... at the CPU workers' default chunk size

The same N documents (CNN/DM test articles, split by ingest.sentences.split_sentences, stored in a fresh PostgreSQL
database) are summarized twice with the same model and batch budget (DOCSUM_MAX_BATCH_TOKENS):
  direct   : ExtSummarizer.summarize in this process, over chunks of settings.chunk_size documents
  pipeline : Client.submit(document ids) -> Redis -> one `docsum worker --queue summarize` process (solo pool) ->
             summaries and job states written to PostgreSQL -> Client.wait sees the batch finished
Both exclude model loading (the worker is warmed up with one small batch first). Overhead per document is the
difference in wall time divided by N: task publishing, broker round trips, job state updates, reading sentences and
writing summaries. The pipeline's time runs from the submit to the batch's recorded finish, not to the client
noticing it, so the client's poll interval is no part of it.

Documents are stored as ingest leaves them, sentences tokenized ahead for the model (that cost is printed too, as the
ingest side's). Per-document cost of each stage (fetch, prepare, score, write) is printed for both modes: the
worker's from its per-chunk log lines. `--null-model` swaps the engine for the bench fixture in bench/null_worker.py
(prepare and pack as always, no model run) in both modes: the ceiling the CPU side and the database put on a GPU
worker; it defaults to a GPU worker's chunks of 512, 3,000 documents and 5 runs. With `--repeat N` each mode runs N
times over the same documents (the pipeline's runs are N batches through the same worker) and the figures are the
median run's, with the range: on a shared machine one run can differ from the next by a fifth. A private
redis-server on a free port carries the tasks. Prints tables; nothing here is a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # servers.py: the private redis-server the tests start too

from servers import RedisServer, create_pg_database, drop_pg_database  # noqa: E402

from docsum.client import Client  # noqa: E402
from docsum.config import Settings  # noqa: E402
from docsum.db.migrate import upgrade  # noqa: E402
from docsum.db.models import Document, DocumentStatus, sentence_skips_of  # noqa: E402
from docsum.db.session import dispose_engine, make_session_factory  # noqa: E402
from docsum.ingest.citations import sentence_info  # noqa: E402
from docsum.ingest.sentences import split_sentences  # noqa: E402
from docsum.services.summarize import STAGES  # noqa: E402
from docsum.services.tokens import store_tokens  # noqa: E402

STAGE_LINE = re.compile(r"fetch ([\d.]+) ms · prepare ([\d.]+) ms · score ([\d.]+) ms · write ([\d.]+) ms")

SHARED_DATA = Settings().shared_data

GPU_CHUNK_SIZE = 512  # documents per summarize task on a GPU worker (docs/DEPLOYING.md)


def articles(n: int) -> list[str]:
    """n CNN/DM test and validation articles (repeated when n is larger than both files: speed does not mind)."""
    pool: list[str] = []
    for split in ("test", "validation"):
        with gzip.open(SHARED_DATA / "cnndm" / f"{split}.jsonl.gz", "rt") as fh:
            pool.extend(json.loads(line)["article"] for line in fh)
            if len(pool) >= n:
                break
    return [pool[i % len(pool)] for i in range(n)]


def store_documents(settings: Settings, texts: list[str]) -> list[int]:
    """Documents as ingest would leave them (extracted, with sentences and their citation and candidate records),
    inserted in bulk."""
    rows = []
    for i, body in enumerate(texts):
        sentences = split_sentences(body, "en")
        info = sentence_info(body, sentences, paged=False)
        rows.append(
            {
                "source_uri": f"bench://cnndm/{i}",
                "content_sha256": uuid.uuid4().hex + uuid.uuid4().hex,
                "text": body,
                "sentences": sentences,
                "sentence_info": info,
                "sentence_skips": sentence_skips_of(info),  # what the ORM sets with the records (a bulk insert here)
                "status": DocumentStatus.extracted,
                "language": "en",
            }
        )
    with make_session_factory(settings)() as session:
        ids = list(session.scalars(insert(Document).returning(Document.id), rows))
        session.commit()
    return sorted(ids)


def tokenize_ahead(settings: Settings, ids: list[int]) -> float:
    """What the ingest workers do for these documents; returns seconds."""
    path = str(settings.model_path) if settings.model_path else None
    start = time.perf_counter()
    for i in range(0, len(ids), 256):
        store_tokens(make_session_factory(settings), ids[i : i + 256], path)
    return time.perf_counter() - start


def load_summarizer(settings: Settings, null_model: bool):
    from docsum.services.models import get_summarizer

    if null_model:
        from null_worker import null_loader

        return null_loader(settings)(str(settings.model_path) if settings.model_path else None)
    return get_summarizer(settings, str(settings.model_path) if settings.model_path else None)


def run_direct(settings: Settings, ids: list[int], null_model: bool) -> Run:
    """The engine in this process over chunks of chunk_size; its seconds and seconds per stage (no write)."""
    from docsum.bertsum.preprocess import SentenceTokens
    from docsum.worker.tasks import chunked

    summarizer = load_summarizer(settings, null_model)
    summarizer.summarize([["A warm-up sentence that is long enough to be kept by the filter."] * 3])
    summarizer.engine.reset_stats()
    stages = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    for chunk in chunked(ids, settings.chunk_size):
        began = time.perf_counter()
        with make_session_factory(settings)() as session:
            rows = session.execute(
                select(Document.sentences, Document.token_key, Document.token_ids)
                .where(Document.id.in_(chunk))
                .order_by(Document.id)
            ).all()
        stages["fetch"] += time.perf_counter() - began
        began, prepared = time.perf_counter(), summarizer.engine.stats.prepare_s
        summarizer.summarize(
            [r[0] for r in rows], k=3, tokens=[SentenceTokens.from_bytes(r[1], r[2]) if r[2] else None for r in rows]
        )
        stages["prepare"] += summarizer.engine.stats.prepare_s - prepared
        stages["score"] += time.perf_counter() - began - (summarizer.engine.stats.prepare_s - prepared)
    return Run(time.perf_counter() - start, stages)


def start_worker(settings: Settings, log: Path, null_model: bool, name: str = "bench") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(
        DOCSUM_DATABASE_URL=settings.database_url,
        DOCSUM_BROKER_URL=settings.broker_url,
        DOCSUM_MAX_BATCH_TOKENS=str(settings.max_batch_tokens),
        DOCSUM_CHUNK_SIZE=str(settings.chunk_size),
        HF_HUB_OFFLINE="1",
    )
    if settings.device:
        env["DOCSUM_DEVICE"] = settings.device
    if null_model:
        argv = [sys.executable, str(REPO_ROOT / "bench" / "null_worker.py"), f"{name}@%h"]
    else:
        argv = [sys.executable, "-m", "docsum.cli", "worker", "--queue", "summarize", "--hostname", f"{name}@%h"]
    proc = subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start; see {log}")
        time.sleep(0.2)
    return proc


@dataclass
class Run:
    seconds: float
    stages: dict[str, float]  # seconds per stage over the run
    submit_s: float | None = None  # the client's submit call (pipeline only)


def run_pipeline(
    settings: Settings, warm: list[int], ids: list[int], logs: list[Path], null_model: bool, repeat: int
) -> list[Run]:
    """`repeat` batches of the same documents, one after another, through one worker per log (each a new batch: new
    jobs, new summaries)."""
    procs = []
    runs = []
    try:
        for i, log in enumerate(logs):
            procs.append(start_worker(settings, log, null_model, f"bench{i + 1}"))
        with Client(settings) as client:
            # The workers load the model here; several workers take a chunk each of a whole untimed pass.
            client.wait(client.submit(warm if len(logs) == 1 else ids, name="bench warm-up"), timeout=600)
            for i in range(repeat):
                offsets = [len(log.read_text(errors="replace")) for log in logs]
                start = time.time()
                # Forced: the documents already have summaries from the earlier runs, which a plain submit would
                # reuse without sending anything to the worker.
                batch = client.submit(ids, name=f"bench {i + 1}", force=True)
                submit_s = time.time() - start
                report = client.wait(batch, poll_interval=0.5)
                # From the submit to the batch's recorded finish (the worker that ends its last job finishes it), so
                # the poll interval neither adds to the figure nor, polling often, takes CPU from the worker.
                elapsed = report.finished_at.timestamp() - start
                if report.counts["succeeded"] != len(ids):
                    raise SystemExit(f"pipeline run incomplete: {report.counts}")
                stages = chunk_stages(logs, offsets, -(-len(ids) // settings.chunk_size))
                runs.append(Run(elapsed, stages, submit_s))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    return runs


def chunk_stages(logs: list[Path], offsets: list[int], chunks: int) -> dict[str, float]:
    """Seconds per stage summed over the workers' log lines of `chunks` chunks written after `offsets` (the last one
    is logged just after the batch is finished, so it may still be on its way)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            line
            for log, offset in zip(logs, offsets, strict=True)
            for line in STAGE_LINE.findall(log.read_text(errors="replace")[offset:])
        ]
        if len(found) >= chunks:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(found)} of {chunks} chunk lines in {', '.join(map(str, logs))}")
        time.sleep(0.05)
    stages = dict.fromkeys(STAGES, 0.0)
    for line in found:
        for stage, ms in zip(STAGES, line, strict=True):
            stages[stage] += float(ms) / 1000
    return stages


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="documents (default: 1000; with --null-model, 3000)")
    parser.add_argument("--null-model", action="store_true", help="the bench fixture's scorer (bench/null_worker.py)")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="default: settings")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help=f"documents per summarize task (default: settings; with --null-model, {GPU_CHUNK_SIZE}, a GPU worker's)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of each mode over the same documents, figures from the median run (default 1; --null-model: 5)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="summarize workers (processes) sharing the queue (default 1)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    # The null scorer measures what a GPU worker's CPU side and database allow, so it runs as a GPU worker is
    # configured (docs/DEPLOYING.md), and long enough to see past this machine's run-to-run noise.
    args.n = args.n or (3000 if args.null_model else 1000)
    args.chunk_size = args.chunk_size or (GPU_CHUNK_SIZE if args.null_model else None)
    args.repeat = args.repeat or (5 if args.null_model else 1)
    if args.repeat < 1 or args.workers < 1:
        parser.error("--repeat and --workers must be at least 1")

    db_url = create_pg_database(args.pg_admin_url, "docsum_bench")
    var = REPO_ROOT / "var"
    var.mkdir(parents=True, exist_ok=True)
    logs = [var / "bench-pipeline-worker.log"]
    logs += [var / f"bench-pipeline-worker-{i + 1}.log" for i in range(1, args.workers)]
    try:
        redis = RedisServer(var / "bench-redis")  # never a Redis the bench did not start
    except RuntimeError as error:
        raise SystemExit(str(error)) from None
    broker_url = f"{redis.url}/0"
    overrides = {
        k: v for k, v in {"max_batch_tokens": args.max_batch_tokens, "chunk_size": args.chunk_size}.items() if v
    }
    settings = Settings(database_url=db_url, broker_url=broker_url, device=args.device, **overrides)
    try:
        upgrade(db_url)
        ids = store_documents(settings, articles(args.n + 2))
        tokenize_s = tokenize_ahead(settings, ids)
        warm, ids = ids[:2], ids[2:]
        direct = [run_direct(settings, ids, args.null_model) for _ in range(args.repeat)]
        pipeline = run_pipeline(settings, warm, ids, logs, args.null_model, args.repeat)
    finally:
        dispose_engine(db_url)
        drop_pg_database(args.pg_admin_url, db_url)
        redis.stop()

    n = len(ids)
    scorer = "null scorer (bench fixture)" if args.null_model else "the model"
    console = Console(width=150)  # the table stays whole in a log or a pipe
    runs = f"median of {args.repeat} runs" if args.repeat > 1 else "1 run"
    table = Table(
        title=f"summarize {n} CNN/DM articles with {scorer} · max_batch_tokens {settings.max_batch_tokens} "
        f"· chunk {settings.chunk_size} docs · {runs}"
    )
    for col in ("mode", "seconds", "docs/s", "docs/s range", "ms/doc", *(f"{s} ms/doc" for s in STAGES)):
        table.add_column(col, justify="right" if col != "mode" else "left")
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    modes = (("direct (engine in process)", direct), (f"pipeline (Redis + PostgreSQL + {workers})", pipeline))
    for mode, mode_runs in modes:
        mid = median_run(mode_runs)
        rates = sorted(n / r.seconds for r in mode_runs)
        table.add_row(
            mode,
            f"{mid.seconds:.2f}",
            f"{n / mid.seconds:.1f}",
            f"{rates[0]:.0f}-{rates[-1]:.0f}",
            f"{1000 * mid.seconds / n:.3f}",
            *(f"{1000 * mid.stages[s] / n:.3f}" for s in STAGES),
        )
    console.print(table)
    direct_s, pipeline_s = median_run(direct).seconds, median_run(pipeline).seconds
    submit_s = statistics.median_low(r.submit_s for r in pipeline)
    console.print(
        f"tokenized ahead (the ingest side): {1000 * tokenize_s / (n + 2):.3f} ms/doc; "
        f"queue overhead per document: {1000 * (pipeline_s - direct_s) / n:.3f} ms; "
        f"submit of {n} documents: {1000 * submit_s:.0f} ms (median)"
    )
    if args.json:
        key = "null" if args.null_model else "model"
        figures = {
            "n": n,
            "scorer": key,
            "chunk_size": settings.chunk_size,
            "max_batch_tokens": settings.max_batch_tokens,
            "repeat": args.repeat,
            "workers": args.workers,
            f"{key}_docs_per_s": n / pipeline_s,
            f"{key}_docs_per_s_runs": [n / r.seconds for r in pipeline],
            f"{key}_direct_docs_per_s": n / direct_s,
            f"{key}_direct_docs_per_s_runs": [n / r.seconds for r in direct],
            "submit_ms": 1000 * submit_s,
            "tokenize_ahead_ms_per_doc": 1000 * tokenize_s / (n + 2),
            "pipeline_ms_per_doc": {s: 1000 * v / n for s, v in median_run(pipeline).stages.items()},
            "direct_ms_per_doc": {s: 1000 * v / n for s, v in median_run(direct).stages.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
