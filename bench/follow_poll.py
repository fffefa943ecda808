"""What one poll of `Client.as_completed` costs on a large batch: reading what changed, not the batch.

    python bench/follow_poll.py                  # a batch of 200,000 jobs, PostgreSQL
    python bench/follow_poll.py --jobs 50000 --json f.json

Builds a fresh PostgreSQL database with one batch of N jobs, makes them final in chunks of 1,000 through the same
db.status call a summarize worker uses (each chunk its own transaction, taking the batch's change marker), then
times one poll's read, the median of `--repeats`:
  every final id : the read of every final job id of the batch, which a poll made before change markers
  nothing new    : services.batches.final_since from the last marker, when nothing has changed
  one chunk new  : the same, right after one more chunk of 1,000 jobs ended
  report         : services.batches.batch_report, the status and counts every poll reads as well
Prints a table; `--json` also writes the figures. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # servers.py

from servers import pg_database

from docsum.db import status as db_status
from docsum.db.migrate import upgrade
from docsum.db.models import Batch, Job
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.services.batches import FINAL_STATES, batch_report, final_since

CHUNK = 1_000


def fill(url: str, n: int) -> None:
    """One batch of n running jobs over n documents, written by SQL (building them is not what is measured)."""
    with session_scope(make_session_factory(url)) as session:
        session.add(Batch(id=1, name="bench"))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO documents (id, source_uri, content_sha256, status, created_at, updated_at) "
                "SELECT g, 'doc' || g, lpad(g::text, 64, '0'), 'extracted', now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        conn.execute(
            text(
                "INSERT INTO jobs (id, batch_id, document_id, model_id, params, params_key, status, attempts, "
                "updated_at) SELECT g, 1, g, 'm', '{}', 'k', 'running', 1, now() FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        conn.execute(text("ANALYZE"))
    engine.dispose()


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200_000, help="jobs in the batch")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.jobs <= CHUNK:
        parser.error(f"--jobs must be above {CHUNK}")

    with pg_database(args.pg_admin_url, "docsum_bench") as url:
        upgrade(url)
        fill(url, args.jobs)
        sessions = make_session_factory(url)
        ids = list(range(1, args.jobs + 1))
        began = time.perf_counter()
        for start in range(0, args.jobs - CHUNK, CHUNK):
            with session_scope(sessions) as session:
                db_status.mark_jobs_succeeded(session, ids[start : start + CHUNK])
        store_ms = (time.perf_counter() - began) * 1000 / ((args.jobs - CHUNK) // CHUNK)
        with sessions() as session:
            _, marker = final_since(session, 1, 0)
            final_ids = select(Job.id).where(Job.batch_id == 1, Job.status.in_(FINAL_STATES))
            every_ms = median_ms(lambda: set(session.scalars(final_ids)), args.repeats)
            nothing_ms = median_ms(lambda: final_since(session, 1, marker), args.repeats)
            report_ms = median_ms(lambda: batch_report(session, 1), args.repeats)
        with session_scope(sessions) as session:
            db_status.mark_jobs_succeeded(session, ids[-CHUNK:])
        with sessions() as session:
            news, _ = final_since(session, 1, marker)
            assert len(news) == CHUNK, len(news)
            chunk_ms = median_ms(lambda: final_since(session, 1, marker), args.repeats)
        dispose_engine(url)

    figures = {
        "jobs": args.jobs,
        "every_final_id_ms": round(every_ms, 3),
        "nothing_new_ms": round(nothing_ms, 3),
        "one_chunk_new_ms": round(chunk_ms, 3),
        "store_chunk_ms": round(store_ms, 2),
        "batch_report_ms": round(report_ms, 3),
    }
    print(f"\none poll of a batch of {args.jobs:,} jobs (median of {args.repeats}, PostgreSQL)")
    print(f"  every final id (before markers): {every_ms:9.2f} ms")
    print(f"  nothing new                    : {nothing_ms:9.2f} ms")
    print(f"  one chunk of {CHUNK:,} new          : {chunk_ms:9.2f} ms")
    print(f"  the batch's report (status and counts), read on every poll too: {report_ms:.2f} ms")
    print(f"  making a chunk final (a worker's store, with its marker): {store_ms:.2f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
