"""HTML main-content quality on the scrapinghub article-extraction benchmark (181 pages, ../shared/data/html_benchmark).

Mean token 4-gram shingle F1 against `articleBody` for
  (a) trafilatura alone on the raw page bytes (its own decoding; reported at 0.958 by the benchmark), and
  (b) our ingest path: decode -> trafilatura -> split sentences -> the stored sentences joined with spaces,
so a loss anywhere on the way shows. Prints a table; not a test.

    .venv/bin/python bench/html_extraction.py [--data ../shared/data/html_benchmark] [--worst 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path

from trafilatura import extract

from docsum.config import Settings
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import extract_document
from docsum.ingest.quality import shingle_f1

DEFAULT_DATA = Settings().shared_data / "html_benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worst", type=int, default=5, help="list the N pages where our path scores lowest")
    args = parser.parse_args()

    truth = json.loads((args.data / "ground-truth.json").read_text(encoding="utf-8"))
    settings = Settings()
    plain, ours, failures = [], [], []
    seconds_plain = seconds_ours = 0.0
    per_page = []
    for page_id, entry in sorted(truth.items()):
        raw = gzip.decompress((args.data / "html" / f"{page_id}.html.gz").read_bytes())
        expected = entry["articleBody"]

        t0 = time.perf_counter()
        baseline = extract(raw) or ""
        t1 = time.perf_counter()
        try:
            doc = extract_document(raw, f"{page_id}.html", settings)
            stored = " ".join(doc.sentences)
        except ExtractionError as err:
            stored = ""
            failures.append((page_id, err.reason))
        t2 = time.perf_counter()
        seconds_plain += t1 - t0
        seconds_ours += t2 - t1

        plain.append(shingle_f1(baseline, expected))
        ours.append(shingle_f1(stored, expected))
        per_page.append((ours[-1], plain[-1], page_id))

    n = len(truth)
    print(f"HTML extraction, {n} pages of {args.data}")
    print(f"{'path':<44} {'mean F1':>8} {'median':>8} {'ms/page':>8}")
    print(
        f"{'(a) trafilatura.extract(raw bytes)':<44} {statistics.mean(plain):8.3f} {statistics.median(plain):8.3f} "
        f"{1000 * seconds_plain / n:8.1f}"
    )
    print(
        f"{'(b) ingest: decode+extract+split, joined':<44} {statistics.mean(ours):8.3f} {statistics.median(ours):8.3f} "
        f"{1000 * seconds_ours / n:8.1f}"
    )
    print(
        f"pages where (b) < (a) by more than 0.01: {sum(1 for o, p, _ in per_page if o < p - 0.01)}; "
        f"(b) > (a) by more than 0.01: {sum(1 for o, p, _ in per_page if o > p + 0.01)}; failed in (b): {len(failures)}"
    )
    for page_id, reason in failures:
        print(f"  failed {page_id[:16]}: {reason}")
    if args.worst:
        print(f"lowest {args.worst} pages for (b):")
        for o, p, page_id in sorted(per_page)[: args.worst]:
            print(f"  {page_id[:16]}  ours {o:.3f}  trafilatura {p:.3f}")


if __name__ == "__main__":
    main()
