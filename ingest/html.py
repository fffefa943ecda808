"""HTML → main content (no navigation, ads or comments) with trafilatura, from a str we decoded ourselves."""

from __future__ import annotations

from trafilatura import bare_extraction
from trafilatura.settings import set_date_params

from docsum.ingest.decode import decode_html
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.sniff import HTML


def extract_html(data: bytes, max_chars: int | None = None) -> Extracted:
    """Main content of one page. A page longer than `max_chars` is cut to that length first: trafilatura's cost grows
    quadratically with page size (a 6 MB page takes minutes), and lxml parses a cut page like any unclosed one."""
    page, _encoding = decode_html(data)
    notes = None
    if max_chars is not None and len(page) > max_chars:
        notes = f"page cut to its first {max_chars} of {len(page)} characters before extraction (max_html_chars)"
        page = page[:max_chars]
    try:
        doc = bare_extraction(
            page,
            include_comments=False,
            include_tables=True,
            with_metadata=True,
            # No guessing from free text: "since 2009" or a copyright footer is not a publication date.
            date_extraction_params={**set_date_params(extensive=False)},
        )
    except (ValueError, TypeError, RecursionError) as err:  # malformed markup lxml cannot build a tree from
        raise ExtractionError(f"unreadable HTML: {type(err).__name__}: {err}") from err
    if doc is None or not (doc.text or "").strip():
        raise ExtractionError("no text: no main content found in the HTML page")
    # trafilatura keeps one paragraph (or list item, table row) per line.
    text = "\n".join(line.strip() for line in doc.text.splitlines() if line.strip())
    return Extracted(
        media_type=HTML,
        text=text,
        title=doc.title or None,
        author=doc.author or None,
        published=doc.date or None,
        language=doc.language or None,
        notes=notes,
    )
