"""HTML → main content (no navigation, ads or comments) with trafilatura, from a str we decoded ourselves."""

from __future__ import annotations

from trafilatura import bare_extraction
from trafilatura.settings import set_date_params

from docsum.ingest.decode import decode_html
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.sniff import HTML


def extract_html(data: bytes) -> Extracted:
    page, _encoding = decode_html(data)
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
    )
