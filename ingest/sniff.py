"""Media type from content, not from the name: `filetype` for binary formats, our own check for HTML vs text.

The extension only breaks the tie between plain text and Markdown, which look alike as bytes.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import filetype

from docsum.ingest.decode import strip_bom

PDF = "application/pdf"
HTML = "text/html"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
BINARY = "application/octet-stream"
ZIP = "application/zip"
TAR = "application/x-tar"
COMPRESSED = ("application/gzip", "application/x-bzip2", "application/x-xz")  # a tarball, or one compressed file

HEAD_BYTES = 8192  # enough for every check below
_PDF_HEADER_WINDOW = 1024  # readers accept junk before %PDF- within the first KiB
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title)[\s>/]", re.IGNORECASE | re.DOTALL
)
_HTML_TAGS = re.compile(rb"<(html|head|body|p|div|article|title|meta)[\s>/]", re.IGNORECASE)
_MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


def _looks_binary(body: bytes) -> bool:
    """NUL bytes or many control characters: not a text file (checked after removing a UTF-16/32 BOM)."""
    if not body:
        return False
    if b"\x00" in body:
        return True
    controls = sum(1 for b in body if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(body) > 0.05


def sniff_media_type(head: bytes, name: str = "") -> str:
    """The media type of a document whose first bytes are `head` (HEAD_BYTES or more are best)."""
    if b"%PDF-" in head[:_PDF_HEADER_WINDOW]:
        return PDF
    body, bom_encoding = strip_bom(head)
    if bom_encoding and bom_encoding != "utf-8":
        # UTF-16/32 text has NULs between ASCII letters; look at it as ASCII-ish for the HTML check.
        body = body.decode(bom_encoding, errors="ignore").encode("utf-8", errors="ignore")
    else:
        kind = filetype.guess(head)
        if kind is not None:
            return kind.mime
        if _looks_binary(body):
            return BINARY
    if _HTML_START.match(body) or (PurePosixPath(name).suffix.lower() in _HTML_SUFFIXES and _HTML_TAGS.search(body)):
        return HTML
    if PurePosixPath(name).suffix.lower() in _MARKDOWN_SUFFIXES:
        return MARKDOWN
    return TEXT


def is_archive(media_type: str) -> bool:
    return media_type in (ZIP, TAR) or media_type in COMPRESSED
