"""What extraction produces for one document, before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    notes: str | None = None  # what was left out (pages past max_pdf_pages, an HTML page cut to max_html_chars)
