"""HTML → main content (no navigation, ads or comments) with trafilatura, from a str we decoded ourselves.

Before trafilatura: nodes a reader never sees (`hidden`, `aria-hidden="true"`, `display:none`, `visibility:hidden`)
are removed. After it, the text is rebuilt from trafilatura's XML so that one block (paragraph, heading, list item,
table row) is one line: whitespace inside a block collapses (a newline in the page source is never a sentence
break), and a `<br>` inside a block breaks the line only where a sentence could end there.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from docsum.errors import FailureClass
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
    ("... provide publishers with an</p><p>effective way ..."): they are joined.

    A line is kept as its pieces until the end, and only its last piece is asked whether it ends a sentence: growing
    one string, and searching it whole at every join, took time quadratic in the number of joined blocks."""
    lines: list[list[str]] = []
    for block in text.splitlines():
        pieces = reflow_lines(block.split(_LINE_BREAK)) if _LINE_BREAK in block else [" ".join(block.split())]
        for piece in pieces:
            if not piece:
                continue
            if lines and piece[:1].islower() and not ends_sentence(lines[-1][-1]):
                lines[-1].append(piece)
            else:
                lines.append([piece])
    return [" ".join(parts) for parts in lines]


# The main-content extractor's time grows faster than the page (20,000 blocks: 1.5 s; 100,000: over 20 s here). A
# page with more blocks than this is read whole, in linear time; an article has a few hundred.
MAX_EXTRACTOR_BLOCKS = 20_000
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_UNSEEN_TAGS = frozenset(["script", "style", "noscript", "template", "head", "title", "svg"])


class _PlainText(HTMLParser):
    """Every visible text of a page, one line per block, in one pass with no tree: the fallback for pages the
    main-content extractor finds nothing in. lxml stops building a tree 256 levels down, so a deeply nested page
    would otherwise lose all its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._unseen = 0

    def _break(self) -> None:
        line = " ".join(" ".join(self._current).split())
        if line:
            self.lines.append(line)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _UNSEEN_TAGS:
            self._unseen += 1
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _UNSEEN_TAGS:
            self._unseen = max(0, self._unseen - 1)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._unseen:
            self._current.append(data)


def plain_text(page: str) -> str:
    """The page's visible text, one block per line (see `_PlainText`)."""
    parser = _PlainText()
    parser.feed(page)
    parser.close()
    parser._break()
    return "\n".join(_block_lines("\n".join(parser.lines)))


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
        if page.rfind("<") > page.rfind(">"):  # a tag cut in half is not text
            page = page[: page.rfind("<")]
    try:
        tree = load_html(page)
        if tree is None:
            raise ValueError("no HTML tree could be built")
        drop_hidden(tree)
        blocks = sum(1 for _ in tree.iter(*_BLOCK_TAGS))
        if blocks > MAX_EXTRACTOR_BLOCKS:
            doc = _whole_page(page, notes, found_none=False)
            doc.add_note(f"a page of {blocks:,} blocks: the whole visible text is kept (no main-content extraction)")
            return doc
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
        raise ExtractionError(f"unreadable HTML: {type(err).__name__}: {err}", FailureClass.unreadable) from err
    if doc is None or not (doc.text or "").strip():
        return _whole_page(page, notes)
    body = doc.body
    if body is not None and len(body):
        _flatten_whitespace(body)
        raw_text = xmltotxt(body, False)
        body_h1 = _first_h1(body)
    else:
        raw_text, body_h1 = doc.text, None
    text = "\n".join(_block_lines(raw_text))
    if not text.strip():
        return _whole_page(page, notes)
    return Extracted(
        media_type=HTML,
        text=text,
        title=choose_headline(doc.title or None, page_h1, body_h1),
        author=doc.author or None,
        published=doc.date or None,
        language=doc.language or None,
        notes=notes,
    )


def _whole_page(page: str, notes: str | None, found_none: bool = True) -> Extracted:
    """The page's whole visible text, said so in the notes (after the extractor found no main content, unless
    `found_none` is False); none at all is an error."""
    text = plain_text(page)
    if not text.strip():
        raise ExtractionError("no text: no main content found in the HTML page", FailureClass.no_text)
    doc = Extracted(media_type=HTML, text=text, notes=notes)
    if found_none:
        doc.add_note("no main content found: the page's whole visible text is kept")
    return doc
