"""Plain text and Markdown → paragraphs (Markdown markup stripped through markdown-it's token stream)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from docsum.ingest.decode import decode_bytes
from docsum.ingest.document import Extracted
from docsum.ingest.reflow import reflow_text
from docsum.ingest.sniff import MARKDOWN, TEXT

_md = MarkdownIt("commonmark").enable("table")
_BLOCK_ENDS = {"paragraph_close", "heading_close", "tr_close", "blockquote_close", "list_item_close"}


def _inline_text(children: list) -> str:
    parts: list[str] = []
    for tok in children:
        if tok.type in ("text", "code_inline"):
            parts.append(tok.content)
        elif tok.type == "image":  # alt text lives in the image token's children
            parts.append(_inline_text(tok.children or []))
        elif tok.type == "softbreak":  # a wrapped line inside a paragraph
            parts.append(" ")
        elif tok.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def markdown_to_text(source: str) -> tuple[str, str | None]:
    """Markdown → (plain text with one block per line, first level-1 heading or None)."""
    blocks: list[str] = []
    title: str | None = None
    current: list[str] = []
    in_heading = ""
    for tok in _md.parse(source):
        if tok.type == "heading_open":
            in_heading = tok.tag
        elif tok.type == "inline":
            text = _inline_text(tok.children or [])
            current.append(text)
            if in_heading == "h1" and title is None:
                title = " ".join(text.split())
        elif tok.type in ("fence", "code_block"):
            blocks.append(tok.content.strip("\n"))
        elif tok.type in ("th_close", "td_close"):
            current.append(" ")  # one table row becomes one line, cells separated by spaces
        elif tok.type in _BLOCK_ENDS and current:
            blocks.append("".join(current).strip())
            current = []
            if tok.type == "heading_close":
                in_heading = ""
    if current:
        blocks.append("".join(current))
    return "\n".join(b for b in blocks if b.strip()), title


_MAX_TITLE_WORDS = 20


def plain_title(source: str) -> str | None:
    """A plain-text headline: a first block that is one short line without closing punctuation ("Local runner
    smashes course record", then a blank line). Wire stories and exported notes start this way."""
    blocks = [b for b in re.split(r"\n\s*\n", source.replace("\r\n", "\n").strip()) if b.strip()]
    if len(blocks) < 2:
        return None
    first = blocks[0].strip()
    if "\n" in first or len(first.split()) > _MAX_TITLE_WORDS or re.search(r"[.!?:;,…]$", first):
        return None
    return " ".join(first.split())


def extract_text_file(data: bytes, media_type: str) -> Extracted:
    source, _encoding = decode_bytes(data)
    if media_type == MARKDOWN:
        plain, title = markdown_to_text(source)
        return Extracted(media_type=MARKDOWN, text=plain, title=title)
    return Extracted(media_type=TEXT, text=reflow_text(source), title=plain_title(source))
