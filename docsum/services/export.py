"""Results as files: JSON lines or CSV, the one writer behind `docsum run --out`, `docsum results` and the client."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from docsum.services.display import printable

if TYPE_CHECKING:  # kept light: the CLI reads the format names at start-up
    from docsum.services.batches import ResultRecord

# File suffix -> format; the CLI's --format choices are the distinct values.
EXPORT_SUFFIXES = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv"}
EXPORT_FORMATS = tuple(dict.fromkeys(EXPORT_SUFFIXES.values()))
CSV_FIELDS = [
    "job_id",
    "document_id",
    "source_uri",
    "title",
    "status",
    "summary",
    "indices",
    "scores",
    "error",
    "failure_class",
    "model_id",
    "batch_id",
    "media_type",
    "language",
    "content_sha256",
    "page_count",
    "sentences",
    "note",
    "extraction_note",
]


def export_format(path: str | Path) -> str:
    """'jsonl' or 'csv' from a file name; anything else is refused before any work is done."""
    fmt = EXPORT_SUFFIXES.get(Path(path).suffix.lower().lstrip("."))
    if fmt is None:
        raise ValueError(f"cannot export to {path}: use a .jsonl or .csv file name")
    return fmt


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): text starting with = + - @ tab or CR
    gets a leading apostrophe. Control characters are shown escaped (a CSV is read by people and by terminals; the
    JSONL export keeps the text as stored). Numbers stay numbers."""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    return printable(value)


def write_results(records: Iterable[ResultRecord], out: IO[str], fmt: str) -> int:
    """Write records as JSON lines or CSV (summary sentences joined by a space; lists as JSON). Returns the count."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    n = 0
    for record in records:
        row = record.to_dict()
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            row.update(
                summary=" ".join(record.summary),
                indices=json.dumps(record.indices),
                scores=json.dumps(record.scores),
                sentences=json.dumps(record.sentences, ensure_ascii=False),
            )
            writer.writerow({key: csv_safe(value) for key, value in row.items()})
        n += 1
    return n
