"""HTML → main content (no navigation, ads or comments) with trafilatura, from a str we decoded ourselves.

Before trafilatura: nodes a reader never sees (`hidden`, `aria-hidden="true"`, `display:none`, `visibility:hidden`)
are removed. After it, the text is rebuilt from trafilatura's XML so that one block (paragraph, heading, list item,
table row) is one line: whitespace inside a block collapses (a newline in the page source is never a sentence
break), and a `<br>` inside a block breaks the line only where a sentence could end there.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from docsum.ingest.decode import decode_html
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.reflow import ends_sentence, reflow_lines
from docsum.ingest.sniff import HTML

# Nodes hidden from readers. Lowercased, spaces removed, before matching the style attribute.
_HIDDEN = (
    "//*[@hidden or @aria-hidden='true' or "
    "contains(translate(translate(@style, ' ', ''), 'DISPLAYNOEVSBT', 'displaynoevsbt'), 'display:none') or "
    "contains(translate(translate(@style, ' ', ''), 'DISPLAYNOEVSBT', 'displaynoevsbt'), 'visibility:hidden')]"
)
_KEEP_HIDDEN = {"html", "body", "head", "title", "meta", "link"}  # never remove the page itself or its metadata
# Survives trafilatura's text sanitizer (control and private-use characters do not): an in-block line break.
_LINE_BREAK = "\u204b"
_WS = re.compile(r"\s+")


def _remove_keeping_tail(node: etree._Element) -> None:
    parent = node.getparent()
    if parent is None:
        return
    tail = node.tail or ""
    previous = node.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(node)


def drop_hidden(tree: HtmlElement) -> int:
    """Remove the nodes a reader never sees; returns how many."""
    hidden = [n for n in tree.xpath(_HIDDEN) if isinstance(n.tag, str) and n.tag.lower() not in _KEEP_HIDDEN]
    for node in hidden:
        _remove_keeping_tail(node)
    return len(hidden)


def _in_code(node: etree._Element) -> bool:
    return any(ancestor.tag == "code" for ancestor in node.iterancestors())


def _flatten_whitespace(body: etree._Element) -> None:
    """Source newlines inside blocks become spaces; a <lb/> (a <br>) becomes a marker the text step reflows.
    Code blocks keep their lines, table cells their breaks."""
    for node in list(body.iter()):
        if not isinstance(node.tag, str):
            continue
        if node.text and "\n" in node.text and node.tag != "code" and not _in_code(node):
            node.text = _WS.sub(" ", node.text)
        if node.tail and "\n" in node.tail and not _in_code(node):  # the tail belongs to the parent's text
            node.tail = _WS.sub(" ", node.tail)
    for lb in list(body.iter("lb")):
        if any(a.tag in ("code", "cell", "table") for a in lb.iterancestors()):
            continue
        lb.tail = _LINE_BREAK + (lb.tail or "")
        _remove_keeping_tail(lb)


def _block_lines(text: str) -> list[str]:
    """One line per block; inside a block, a <br> breaks the line only after a possible sentence end. A block
    that stops mid-sentence and is followed by one starting in lowercase is one paragraph split in the markup
    ("... provide publishers with an</p><p>effective way ..."): they are joined."""
    lines: list[str] = []
    for block in text.splitlines():
        pieces = reflow_lines(block.split(_LINE_BREAK)) if _LINE_BREAK in block else [" ".join(block.split())]
        for piece in pieces:
            if not piece:
                continue
            if lines and not ends_sentence(lines[-1]) and piece[:1].islower():
                lines[-1] = f"{lines[-1]} {piece}"
            else:
                lines.append(piece)
    return lines


def _norm(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def choose_headline(title: str | None, page_h1: list[str], body_h1: str | None) -> str | None:
    """The article's headline. The page's <title> often carries the site name ("Headline | Courier") or an SEO
    variant, while the <h1> is what readers see: prefer the <h1> that opens the extracted article, then a single
    page <h1> that the title contains, else trafilatura's title (og:title, <title>)."""
    if body_h1 and _norm(body_h1):
        return body_h1
    headings = [h for h in page_h1 if _norm(h)]
    if len(headings) == 1 and (not title or _norm(headings[0]) in _norm(title)):
        return headings[0]
    return title or (headings[0] if headings else None)


def _first_h1(body: etree._Element) -> str | None:
    for node in body:
        if node.tag == "head" and node.get("rend") == "h1":
            return " ".join("".join(node.itertext()).replace(_LINE_BREAK, " ").split()) or None
        if "".join(node.itertext()).strip():
            return None  # the article opens with something else
    return None


def extract_html(data: bytes, max_chars: int | None = None) -> Extracted:
    """Main content of one page. A page longer than `max_chars` is cut to that length first: trafilatura's cost grows
    quadratically with page size (a 6 MB page takes minutes), and lxml parses a cut page like any unclosed one."""
    page, _encoding = decode_html(data)
    notes = None
    if max_chars is not None and len(page) > max_chars:
        notes = f"page cut to its first {max_chars} of {len(page)} characters before extraction (max_html_chars)"
        page = page[:max_chars]
    try:
        tree = load_html(page)
        if tree is None:
            raise ValueError("no HTML tree could be built")
        drop_hidden(tree)
        page_h1 = [" ".join(h.text_content().split()) for h in tree.iter("h1")]
        doc = bare_extraction(
            tree,
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
    body = doc.body
    if body is not None and len(body):
        _flatten_whitespace(body)
        raw_text = xmltotxt(body, False)
        body_h1 = _first_h1(body)
    else:
        raw_text, body_h1 = doc.text, None
    text = "\n".join(_block_lines(raw_text))
    if not text.strip():
        raise ExtractionError("no text: no main content found in the HTML page")
    return Extracted(
        media_type=HTML,
        text=text,
        title=choose_headline(doc.title or None, page_h1, body_h1),
        author=doc.author or None,
        published=doc.date or None,
        language=doc.language or None,
        notes=notes,
    )
