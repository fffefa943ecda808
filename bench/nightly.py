"""The nightly run at archive scale: a first run, then reruns with 0% and 1% of the files changed.

    python bench/nightly.py                       # 100,000 small text files, PostgreSQL
    python bench/nightly.py --n 20000 --json f.json

Builds an archive of N small text files (three sentences each, all different) in a temporary folder and a fresh
PostgreSQL database, then times, in this process:
  first run : the scan (every file new) and the ingest of every file, as the ingest workers would do it (the same
              service function, one chunk after another); summarizing is not part of this bench
  rerun 0%  : the scan of an unchanged archive (nothing is read, nothing to ingest)
  rerun 1%  : 1% of the files rewritten: the scan plus the ingest of the changed files
A rerun's cost should follow the number of changed files, not the size of the archive. Prints a table; `--json` also
writes the figures. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # servers.py

from servers import create_pg_database, drop_pg_database

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.session import dispose_engine, make_session_factory
from docsum.services.batches import job_params
from docsum.services.ingest import ingest_files
from docsum.services.models import ModelRef
from docsum.services.nightly import plan_nightly

WORDS = [
    "harbour", "budget", "council", "archive", "minutes", "meeting", "library", "river", "bridge", "school",
    "museum", "railway", "market", "festival", "hospital", "election", "museum", "garden", "weather", "tunnel",
]  # fmt: skip


def write_file(path: Path, rng: random.Random) -> None:
    sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(3)]
    path.write_text(" ".join(sentences) + f" Record {uuid.uuid4().hex}.")


def build_archive(root: Path, n: int, rng: random.Random) -> list[Path]:
    files = []
    for i in range(n):
        folder = root / f"{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        path = folder / f"record-{i:07d}.txt"
        write_file(path, rng)
        files.append(path)
    return files


def run(sessions, settings: Settings, root: Path, chunk: int) -> dict[str, float]:
    """One nightly run, its ingest step done here chunk by chunk; seconds of each part and the scan counts."""
    model = ModelRef(path=None, model_id="bench-model@0")  # jobs are created, nothing is summarized
    began = time.perf_counter()
    outcome = plan_nightly(sessions, [str(root)], model, job_params(3))
    scanned = time.perf_counter()
    for start in range(0, len(outcome.to_ingest), chunk):
        ingest_files(sessions, settings, outcome.batch_id, outcome.to_ingest[start : start + chunk])
    done = time.perf_counter()
    return {"scan_s": scanned - began, "ingest_s": done - scanned, "total_s": done - began, **outcome.scan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="files in the archive")
    parser.add_argument("--changed", type=float, default=0.01, help="share of files rewritten before the last rerun")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--chunk", type=int, default=Settings().ingest_chunk_size, help="files per ingest step")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    rng = random.Random(0)
    workdir = Path(tempfile.mkdtemp(prefix="docsum-nightly-"))
    url = create_pg_database(args.pg_admin_url, "docsum_bench")
    # The bench's own model-free settings: no tokenizing ahead would change what is measured, so the bundled
    # tokenizer's cost is part of the ingest figure, as it is on an ingest worker.
    settings = Settings(database_url=url)
    try:
        upgrade(url)
        sessions = make_session_factory(settings)
        root = workdir / "archive"
        began = time.perf_counter()
        files = build_archive(root, args.n, rng)
        print(f"built {args.n:,} files in {time.perf_counter() - began:.1f} s under {root}", flush=True)
        results = {"first": run(sessions, settings, root, args.chunk)}
        print(f"first run: {results['first']}", flush=True)
        results["rerun_0"] = run(sessions, settings, root, args.chunk)
        print(f"rerun, nothing changed: {results['rerun_0']}", flush=True)
        time.sleep(0.01)  # a rewritten file gets a later mtime even on coarse clocks
        for path in rng.sample(files, int(args.n * args.changed)):
            write_file(path, rng)
        results[f"rerun_{args.changed:.0%}"] = run(sessions, settings, root, args.chunk)
        print(f"rerun, {args.changed:.0%} changed: {results[f'rerun_{args.changed:.0%}']}", flush=True)
    finally:
        dispose_engine(url)
        drop_pg_database(args.pg_admin_url, url)
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\n{'run':<14}{'files':>10}{'new':>9}{'changed':>9}{'skipped':>10}{'scan s':>9}{'ingest s':>10}{'total s':>9}"
    )
    for label, r in results.items():
        print(
            f"{label:<14}{r['seen']:>10,}{r['new']:>9,}{r['changed']:>9,}{r['skipped']:>10,}"
            f"{r['scan_s']:>9.2f}{r['ingest_s']:>10.2f}{r['total_s']:>9.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": args.n, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
