"""PDF extraction speed and outcomes over ../shared/data/pdf_samples (40 files, manifest.json).

Per file: manifest status (ok / encrypted / broken), pages, seconds, pages/second and our outcome (extracted, or the
failure reason), plus whether the manifest's expected_substrings are found. Then totals per status, and OCR speed:
a scan of known text (rendered to page images here) read by Tesseract, in pages/s with its word F1. Prints a table;
not a test. Takes a few minutes on a loaded two-core machine: run it once, in the background.

    .venv/bin/python bench/pdf_extraction.py [--data ../shared/data/pdf_samples] [--time-limit 300] [--ocr-pages 4]
                                             [--json PATH]
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
from docsum.ingest.quality import shingle_f1

DEFAULT_DATA = Settings().shared_data / "pdf_samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--time-limit", type=float, default=300.0, help="max_extract_seconds per file")
    parser.add_argument("--ocr-pages", type=int, default=4, help="pages of the generated scan to OCR (0: skip)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.getLogger("pdfminer").setLevel(logging.ERROR)

    settings = Settings(database_url="sqlite://", max_extract_seconds=args.time_limit)
    entries = json.loads((args.data / "manifest.json").read_text(encoding="utf-8"))["files"]
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    substrings_found = substrings_total = ocr_pages_in_samples = 0

    print(f"{'file':<44} {'status':<9} {'pages':>5} {'s':>7} {'pages/s':>8}  outcome")
    for entry in entries:
        name = Path(entry["file"]).name
        data = (args.data / entry["file"]).read_bytes()
        start = time.perf_counter()
        try:
            doc = extract_document(data, name, settings)
            pages = doc.page_count or 0
            outcome = f"extracted ({len(doc.sentences)} sentences)"
            if doc.ocr_pages:
                outcome += f", OCR pages {doc.ocr_pages}"
                ocr_pages_in_samples += len(doc.ocr_pages)
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
        print(
            f"{status:<10} {int(t['files']):>5} {int(t['extracted']):>9} {int(t['pages']):>6} "
            f"{t['seconds']:8.2f} {rate:8.2f}"
        )
    print(
        f"{'all':<10} {len(entries):>5} {'':>9} {int(all_pages):>6} {all_seconds:8.2f} {all_pages / all_seconds:8.2f}"
    )
    print(
        f"expected_substrings found: {substrings_found}/{substrings_total}; pages read by OCR: {ocr_pages_in_samples}"
    )
    figures: dict[str, object] = {
        "files": len(entries),
        "pages": int(all_pages),
        "seconds": round(all_seconds, 2),
        "pages_per_s": round(all_pages / all_seconds, 2) if all_seconds else None,
        "by_status": {k: dict(v) for k, v in totals.items()},
        "expected_substrings": [substrings_found, substrings_total],
        "ocr_pages_in_samples": ocr_pages_in_samples,
    }
    if args.ocr_pages:
        figures["ocr"] = ocr_speed(args.ocr_pages, settings)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


SCAN_PARAGRAPHS = [
    "The harbour authority approved a new ferry terminal on Monday after a long public debate about its cost.",
    "Construction will begin in the spring and is expected to take about two years to complete.",
    "Officials said the terminal would handle twice as many passengers as the old building by the end of the decade.",
    "Local shop owners welcomed the plan but asked for fewer road closures during the works.",
    "A public meeting on the timetable of the works is planned for the first Thursday of next month.",
]


def ocr_speed(n_pages: int, settings: Settings) -> dict[str, float]:
    """OCR pages/s on a scan of known text (one JPEG per page, 300 dpi render), and its word F1."""
    import io
    import textwrap

    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=34)
    pdf = FPDF()
    lines = [w for p in SCAN_PARAGRAPHS for w in textwrap.wrap(p, 80)]
    for _ in range(n_pages):
        image = Image.new("L", (2000, 2800), 255)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines * 3):
            draw.text((100, 120 + 52 * i), line, fill=0, font=font)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        pdf.add_page()
        pdf.image(io.BytesIO(buffer.getvalue()), x=0, y=0, w=210)
    data = bytes(pdf.output())
    start = time.perf_counter()
    doc = extract_document(data, "scan.pdf", settings)
    seconds = time.perf_counter() - start
    expected = " ".join(" ".join(lines * 3) for _ in range(n_pages))
    f1 = shingle_f1(doc.text, expected, n=1)
    print(
        f"OCR: {len(doc.ocr_pages)} scanned pages of known text in {seconds:.2f} s = "
        f"{len(doc.ocr_pages) / seconds:.2f} pages/s (render {settings.ocr_dpi} dpi + Tesseract), word F1 {f1:.3f}"
    )
    rate = round(len(doc.ocr_pages) / seconds, 3)
    return {"pages": len(doc.ocr_pages), "seconds": round(seconds, 2), "pages_per_s": rate, "word_f1": round(f1, 4)}


if __name__ == "__main__":
    main()
