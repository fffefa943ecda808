"""PDF extraction speed and outcomes over ../shared/data/pdf_samples (40 files, manifest.json).

Per file: manifest status (ok / encrypted / broken), pages, seconds, pages/second and our outcome (extracted, or the
failure reason), plus whether the manifest's expected_substrings are found. Then totals per status. Prints a table;
not a test. Takes a few minutes on a loaded two-core machine: run it once, in the background.

    .venv/bin/python bench/pdf_extraction.py [--data ../shared/data/pdf_samples] [--time-limit 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

from docsum.config import Settings
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import extract_document

DEFAULT_DATA = Settings().shared_data / "pdf_samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--time-limit", type=float, default=300.0, help="max_extract_seconds per file")
    args = parser.parse_args()
    logging.getLogger("pdfminer").setLevel(logging.ERROR)

    settings = Settings(database_url="sqlite://", max_extract_seconds=args.time_limit)
    entries = json.loads((args.data / "manifest.json").read_text(encoding="utf-8"))["files"]
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    substrings_found = substrings_total = 0

    print(f"{'file':<44} {'status':<9} {'pages':>5} {'s':>7} {'pages/s':>8}  outcome")
    for entry in entries:
        name = Path(entry["file"]).name
        data = (args.data / entry["file"]).read_bytes()
        start = time.perf_counter()
        try:
            doc = extract_document(data, name, settings)
            pages = doc.page_count or 0
            outcome = f"extracted ({len(doc.sentences)} sentences)"
            expected = entry.get("expected_substrings") or []
            found = sum(1 for s in expected if s in doc.text)
            substrings_found += found
            substrings_total += len(expected)
            if expected:
                outcome += f", substrings {found}/{len(expected)}"
        except ExtractionError as err:
            pages = 0
            outcome = f"failed: {err.reason}"
            substrings_total += len(entry.get("expected_substrings") or [])
        seconds = time.perf_counter() - start
        status = entry["status"]
        totals[status]["files"] += 1
        totals[status]["seconds"] += seconds
        totals[status]["pages"] += pages
        totals[status]["extracted"] += outcome.startswith("extracted")
        rate = f"{pages / seconds:8.1f}" if pages and seconds > 0 else f"{'-':>8}"
        print(f"{name[:44]:<44} {status:<9} {pages:>5} {seconds:7.2f} {rate}  {outcome[:90]}", flush=True)

    print()
    print(f"{'status':<10} {'files':>5} {'extracted':>9} {'pages':>6} {'seconds':>8} {'pages/s':>8}")
    all_pages = all_seconds = 0.0
    for status in ("ok", "encrypted", "broken"):
        t = totals[status]
        all_pages += t["pages"]
        all_seconds += t["seconds"]
        rate = t["pages"] / t["seconds"] if t["seconds"] else 0.0
        print(f"{status:<10} {int(t['files']):>5} {int(t['extracted']):>9} {int(t['pages']):>6} {t['seconds']:8.2f} {rate:8.2f}")
    print(f"{'all':<10} {len(entries):>5} {'':>9} {int(all_pages):>6} {all_seconds:8.2f} {all_pages / all_seconds:8.2f}")
    print(f"expected_substrings found: {substrings_found}/{substrings_total}")


if __name__ == "__main__":
    main()
