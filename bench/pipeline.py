"""End-to-end summarize throughput through the queue versus the engine called directly.

    python bench/pipeline.py --n 100          # CPU; the default n is 1000

The same N documents (CNN/DM test articles, split by ingest.sentences.split_sentences, stored in a fresh PostgreSQL
database) are summarized twice with the same model and batch budget (DOCSUM_MAX_BATCH_TOKENS):
  direct   : ExtSummarizer.summarize in this process, over chunks of settings.chunk_size documents
  pipeline : Client.submit(document ids) -> Redis -> one `docsum worker --queue summarize` process (solo pool) ->
             summaries and job states written to PostgreSQL -> Client.wait sees the batch finished
Both exclude model loading (the worker is warmed up with one small batch first). Overhead per document is the
difference in wall time divided by N: task publishing, broker round trips, job state updates, reading sentences and
writing summaries, and the client's polling (0.2 s). Prints a table; nothing here is a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from docsum.db.migrate import upgrade  # noqa: E402
from docsum.db.models import Document, DocumentStatus  # noqa: E402
from docsum.db.session import dispose_engine, make_session_factory  # noqa: E402
from docsum.client import Client  # noqa: E402
from docsum.config import Settings  # noqa: E402
from docsum.ingest.sentences import split_sentences  # noqa: E402

SHARED_DATA = Settings().shared_data


def articles(n: int) -> list[str]:
    out: list[str] = []
    for split in ("test", "validation"):
        with gzip.open(SHARED_DATA / "cnndm" / f"{split}.jsonl.gz", "rt") as fh:
            for line in fh:
                out.append(json.loads(line)["article"])
                if len(out) == n:
                    return out
    raise SystemExit(f"only {len(out)} articles available; use a smaller --n")


def store_documents(settings: Settings, texts: list[str]) -> list[int]:
    """Documents as ingest would leave them (extracted, with sentences), inserted in bulk."""
    rows = []
    for i, body in enumerate(texts):
        rows.append(
            {
                "source_uri": f"bench://cnndm/{i}",
                "content_sha256": uuid.uuid4().hex + uuid.uuid4().hex,
                "text": body,
                "sentences": split_sentences(body, "en"),
                "status": DocumentStatus.extracted,
                "language": "en",
            }
        )
    with make_session_factory(settings)() as session:
        ids = list(session.scalars(insert(Document).returning(Document.id), rows))
        session.commit()
    return sorted(ids)


def run_direct(settings: Settings, ids: list[int]) -> float:
    from docsum.services.models import load_model
    from docsum.worker.tasks import chunked

    with make_session_factory(settings)() as session:
        sentences = dict(session.execute(text("SELECT id, sentences FROM documents")).all())
    docs = [json.loads(s) if isinstance(s, str) else s for s in (sentences[i] for i in ids)]
    model = load_model(str(settings.model_path) if settings.model_path else None, settings.device)
    model.summarize(docs[:2])  # warm-up, as the worker's first batch
    start = time.perf_counter()
    for chunk in chunked(list(range(len(docs))), settings.chunk_size):
        model.summarize([docs[i] for i in chunk], k=3)
    return time.perf_counter() - start


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
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
    argv = [str(REPO_ROOT / ".venv" / "bin" / "docsum"), "worker", "--queue", "summarize", "--hostname", "bench@%h"]
    proc = subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start; see {log}")
        time.sleep(0.2)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="documents")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/15", help="a Redis db with nothing else on it")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="default: settings")
    parser.add_argument("--chunk-size", type=int, default=None, help="documents per summarize task (default: settings)")
    args = parser.parse_args()

    name = f"docsum_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = make_url(args.pg_admin_url).set(database=name).render_as_string(hide_password=False)
    overrides = {k: v for k, v in {"max_batch_tokens": args.max_batch_tokens, "chunk_size": args.chunk_size}.items() if v}
    settings = Settings(database_url=db_url, broker_url=args.broker_url, device=args.device, **overrides)
    log = REPO_ROOT / "var" / "bench-pipeline-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(db_url)
        ids = store_documents(settings, articles(args.n + 2))
        warm, ids = ids[:2], ids[2:]
        direct_s = run_direct(settings, ids)
        pipeline_s = run_pipeline(settings, warm, ids, log)
    finally:
        dispose_engine(db_url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    n = len(ids)
    table = Table(title=f"summarize {n} CNN/DM articles · max_batch_tokens {settings.max_batch_tokens} · chunk {settings.chunk_size} docs")
    for col in ("mode", "seconds", "docs/s", "ms/doc"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for mode, seconds in (("direct (engine in process)", direct_s), ("pipeline (Redis + PostgreSQL + 1 worker)", pipeline_s)):
        table.add_row(mode, f"{seconds:.2f}", f"{n / seconds:.2f}", f"{1000 * seconds / n:.1f}")
    console = Console()
    console.print(table)
    console.print(f"overhead per document: {1000 * (pipeline_s - direct_s) / n:.1f} ms ({100 * (pipeline_s / direct_s - 1):.1f}%)")


def run_pipeline(settings: Settings, warm: list[int], ids: list[int], log: Path) -> float:
    proc = start_worker(settings, log)
    try:
        with Client(settings) as client:
            client.wait(client.submit(warm, name="bench warm-up"), timeout=600)  # the worker loads the model here
            start = time.perf_counter()
            report = client.wait(client.submit(ids, name="bench"), poll_interval=0.2)
            elapsed = time.perf_counter() - start
        if report.counts["succeeded"] != len(ids):
            raise SystemExit(f"pipeline run incomplete: {report.counts}")
        return elapsed
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
