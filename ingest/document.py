"""What extraction produces for one document, before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Extracted:
    media_type: str
    text: str
    title: str | None = None
    author: str | None = None
    published: str | None = None  # as found; ISO 8601 when parseable
    language: str | None = None
    page_count: int | None = None
    sentences: list[str] = field(default_factory=list)
    notes: str | None = None  # what was left out (pages past max_pdf_pages, a page or text cut)
    # Per sentence: span in `text`, page, candidate flag, OCR flag (ingest.citations.sentence_info).
    sentence_info: list[dict[str, Any]] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based pages whose text was read by OCR

    def add_note(self, note: str) -> None:
        """Add to `notes` (each step that leaves something out says so; notes are joined with "; ")."""
        self.notes = f"{self.notes}; {note}" if self.notes else note
