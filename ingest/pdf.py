"""PDF → text with pdfminer.six: reading order, pages kept (joined with "\f"), info-dict metadata.

Guards: the empty password is tried (as pdfminer does) and anything else fails as encrypted; pages are
capped; a deadline is checked inside pdfminer's rendering callbacks (ingest.timelimit; ingest.extract adds
a CPU alarm around the whole document); any exception pdfminer raises (RecursionError included) becomes a
readable reason.

Layout: a word hyphenated at a line break is joined even where pdfminer starts a new text block there
(ingest.hyphens decides for the whole document); rotated or vertical text is read along its own baseline as
lines of its own, not one letter per line.

Scans: pages with images but no text are read by OCR (ingest.ocr) when it is enabled; a file pdfminer cannot
parse at all is handed to PDFium, which repairs most broken scans, and OCR'd. The error then says what the
file is ("scanned PDF ... OCR is off"), not merely that it is corrupt.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from typing import Any

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTChar, LTFigure, LTLayoutContainer, LTPage, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from docsum.errors import FailureClass
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.hyphens import SOFT_HYPHEN, resolve
from docsum.ingest.reflow import Paragraph, continues_sentence, continues_word, ends_sentence, starts_lowercase
from docsum.ingest.sniff import PDF
from docsum.ingest.timelimit import Deadline

_CID = re.compile(r"\(cid:\d+\)")
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
MAX_CID_SHARE = 0.3  # above this share of glyphs unmapped, the text layer is unreadable
_MAX_REASON_CHARS = 300


class _GuardedAggregator(PDFPageAggregator):
    """PDFPageAggregator that checks a deadline on every glyph, path, image and figure it is handed."""

    def __init__(self, rsrcmgr: PDFResourceManager, laparams: LAParams, deadline: Deadline) -> None:
        super().__init__(rsrcmgr, laparams=laparams)
        self.check_deadline = deadline.check
        self.images = 0  # images rendered so far (a page with images and no text is a scan)

    def begin_page(self, page: PDFPage, ctm: Any) -> None:
        self._stack = []  # a page that raised mid-figure must not poison the next one
        super().begin_page(page, ctm)

    def render_char(self, *args: Any, **kwargs: Any) -> float:
        self.check_deadline()
        return super().render_char(*args, **kwargs)

    def begin_figure(self, *args: Any, **kwargs: Any) -> None:
        self.check_deadline()
        super().begin_figure(*args, **kwargs)

    def paint_path(self, *args: Any, **kwargs: Any) -> None:
        self.check_deadline()
        super().paint_path(*args, **kwargs)

    def render_image(self, *args: Any, **kwargs: Any) -> None:
        self.check_deadline()
        self.images += 1
        super().render_image(*args, **kwargs)


class _GuardedInterpreter(PDFPageInterpreter):
    """Checks the deadline before every content stream, including nested form XObjects (dup() keeps the class)."""

    device: _GuardedAggregator

    def render_contents(self, *args: Any, **kwargs: Any) -> None:
        self.device.check_deadline()
        super().render_contents(*args, **kwargs)


def _short(err: BaseException) -> str:
    message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return message if len(message) <= _MAX_REASON_CHARS else message[: _MAX_REASON_CHARS - 1] + "…"


# --- metadata ---------------------------------------------------------------------------------

_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:(Z)|([+\-])(\d{2})'?(\d{2})?'?)?")


def parse_pdf_date(raw: str) -> str:
    """'D:20240115103000+01'00'' → '2024-01-15T10:30:00+01:00'; unparseable values come back as found."""
    value = raw.strip()
    match = _PDF_DATE.match(value)
    if not match:
        return value
    year, month, day, hour, minute, second, zulu, sign, tz_h, tz_m = match.groups()
    try:
        if hour is None:
            datetime(int(year), int(month or 1), int(day or 1))  # validates
            return "-".join(part for part in (year, month, day) if part)
        tz = None
        if zulu:
            tz = UTC
        elif sign:
            offset = timedelta(hours=int(tz_h), minutes=int(tz_m or 0))
            tz = timezone(-offset if sign == "-" else offset)
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0), int(second or 0), tzinfo=tz
        )
        return moment.isoformat()
    except ValueError:
        return value


def _info_value(infos: list[dict[str, Any]], key: str) -> str | None:
    """First non-empty string value for `key` across the document's info dicts."""
    for info in infos:
        try:
            value = resolve1(info.get(key))
        except Exception:  # noqa: BLE001 - a broken reference in metadata is no reason to lose the text
            continue
        if isinstance(value, bytes):
            value = decode_text(value)
        elif isinstance(value, PSLiteral):
            value = str(value.name)
        if isinstance(value, str):
            value = " ".join(value.replace("\x00", "").split())
            if value:
                return value
    return None


# Titles that authoring tools leave in a PDF's metadata and that name no document: the file the PDF was made from
# ("10811.exe", "zen_of_python.txt", "Microsoft Word - report.docx"), a path, an identifier with underscores and no
# space ("905_Precinct_NoOU"), or a placeholder. Shown instead of the file name, they hide it.
_TOOL_PREFIX = re.compile(r"^(?:Microsoft (?:Word|PowerPoint|Excel)|Microsoft Word)\s*-\s*", re.IGNORECASE)
_FILE_NAME = re.compile(
    r"^[^\s/\\]+\.[A-Za-z][A-Za-z0-9]{0,4}$"  # one word with an extension
    r"|[/\\].*\.[A-Za-z][A-Za-z0-9]{0,4}$"  # a path
    r"|\.(?:docx?|dotx?|odt|rtf|txt|tex|dvi|e?ps|pdf|pptx?|xlsx?|html?|md|indd|qxd|wpd|pages)$",  # a document's file
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(
    r"^(?:untitled|no title|title|document|presentation|powerpoint presentation|slide|page|doc|pdf)"
    r"(?:[\s_-]*\d+)?$",
    re.IGNORECASE,
)


def plausible_title(value: str | None) -> str | None:
    """The metadata title if it reads as a title; None (the file name stands in) for a file name, a path, an
    identifier or a placeholder."""
    if not value:
        return None
    value = _TOOL_PREFIX.sub("", value).strip()
    if (
        not value
        or _FILE_NAME.search(value)
        or _PLACEHOLDER.match(value)
        or not any(ch.isalpha() for ch in value)
        or (" " not in value and "_" in value)
    ):
        return None
    return value


# --- text -------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    box: int  # index of the text box it came from
    x0: float
    x1: float
    y0: float
    y1: float
    font: tuple[str, int]  # (most common font name, rounded median size): a change means a new block

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _font_signature(line: LTTextLine) -> tuple[str, int]:
    chars = [c for c in line if isinstance(c, LTChar)]
    if not chars:
        return ("", 0)
    names = Counter(c.fontname for c in chars).most_common(1)[0][0]
    sizes = sorted(c.size for c in chars)
    return (names, round(sizes[len(sizes) // 2]))


def _is_rotated(char: LTChar) -> bool:
    """The glyph's baseline does not run left to right: rotated or vertical text (shear, as in italics, is fine)."""
    a, b = char.matrix[0], char.matrix[1]
    return a <= 0 or abs(b) > 0.1 * abs(a)


def _rotated_chars(line: LTTextLine) -> list[LTChar] | None:
    """The line's glyphs if most of them are rotated (pdfminer then makes one line per letter), else None."""
    chars = [c for c in line if isinstance(c, LTChar)]
    if chars and sum(_is_rotated(c) for c in chars) * 2 > len(chars):
        return chars
    return None


def _page_lines(item: LTLayoutContainer, lines: list[_Line], box: list[int], rotated: list[LTChar]) -> None:
    """Text lines of a laid-out page in pdfminer's reading order (boxes in order, lines within each box); the
    glyphs of rotated lines go to `rotated`."""
    for child in item:
        if isinstance(child, LTTextBox):
            box[0] += 1
            for line in child:
                if not isinstance(line, LTTextLine):
                    continue
                turned = _rotated_chars(line)
                if turned is not None:
                    rotated.extend(turned)
                elif line.get_text().strip():
                    lines.append(
                        _Line(line.get_text(), box[0], line.x0, line.x1, line.y0, line.y1, _font_signature(line))
                    )
        elif isinstance(child, LTTextLine):
            turned = _rotated_chars(child)
            if turned is not None:
                rotated.extend(turned)
            elif child.get_text().strip():
                box[0] += 1
                lines.append(
                    _Line(child.get_text(), box[0], child.x0, child.x1, child.y0, child.y1, _font_signature(child))
                )
        elif isinstance(child, LTFigure):
            _page_lines(child, lines, box, rotated)


def _rotated_lines(chars: list[LTChar], box: int) -> list[_Line]:
    """Rotated glyphs regrouped into lines along their own baselines (same direction, same baseline offset to
    within a point), each read in its writing direction; a gap wider than a third of a typical advance is a space."""
    groups: dict[tuple[int, int], list[tuple[float, LTChar]]] = defaultdict(list)
    for char in chars:
        a, b, _c, _d, e, f = char.matrix
        norm = math.hypot(a, b) or 1.0
        ux, uy = a / norm, b / norm
        angle = round(math.degrees(math.atan2(uy, ux)) / 5)
        offset = round(-uy * e + ux * f)  # the baseline's distance from the origin, in points
        groups[(angle, offset)].append((ux * e + uy * f, char))
    lines: list[_Line] = []
    for (angle, _offset), members in sorted(groups.items()):
        members.sort(key=lambda m: m[0])
        a, b = members[0][1].matrix[:2]
        norm = math.hypot(a, b) or 1.0
        ux, uy = abs(a / norm), abs(b / norm)

        def extent(char: LTChar) -> float:  # the glyph's advance on the page (adv is in text space, unscaled)
            return (char.x1 - char.x0) * ux + (char.y1 - char.y0) * uy

        advances = sorted(e for e in (extent(c) for _, c in members) if e > 0) or [1.0]
        space = advances[len(advances) // 2] / 3
        parts: list[str] = []
        end = None
        for along, char in members:
            text = char.get_text()
            if end is not None and along - end > space and parts and not parts[-1].isspace() and not text.isspace():
                parts.append(" ")
            parts.append(text)
            end = along + extent(char)
        text = " ".join("".join(parts).split())
        if text:
            box += 1
            lines.append(
                _Line(
                    text,
                    box,
                    min(c.x0 for _, c in members),
                    max(c.x1 for _, c in members),
                    min(c.y0 for _, c in members),
                    max(c.y1 for _, c in members),
                    (f"rotated {angle * 5}", 0),
                )
            )
    return lines


# A sentence left open at a line end goes on across a wider gap than a paragraph's lines have: double-spaced
# typescript (court transcripts, drafts) puts a line's height or more between lines, in separate pdfminer boxes.
_OPEN_SENTENCE_GAP = 1.6


# A wrapped entry's next line starts at least this many line heights to the right of its first line (a hanging
# indent), and no further than this many: more is another column or a centred line.
_HANGING_INDENT = (0.5, 6.0)
# A line at least this share of the page's full line width, and of at least this many words, was wrapped, not
# ended: a heading is shorter, and so is a table cell (on a page of short cells, the width alone would pass it).
_LONG_LINE = 0.6
_WRAPPED_WORDS = 6


def _hangs(prev: _Line, line: _Line, full_width: float) -> bool:
    """`line` is the hanging-indented rest of a long line `prev` ("STEVEN E. MERCER, ESQ., Deputy Attorney General,
    Los" + "    Angeles, Cal.; ..."): lists of appearances, references and entries wrap this way, and their lines
    need not end mid-clause or go on in lowercase. A paragraph's own indent is on its first line, not its next."""
    low, high = _HANGING_INDENT
    indent = line.x0 - prev.x0
    long = prev.x1 - prev.x0 >= _LONG_LINE * full_width and len(prev.text.split()) >= _WRAPPED_WORDS
    return long and low * prev.height <= indent <= high * prev.height


def _full_width(lines: list[_Line]) -> float:
    """The width of a full line on the page: the 90th percentile of its line widths (a wide table row or a rule
    should not set it, nor should page numbers and short labels)."""
    widths = sorted(line.x1 - line.x0 for line in lines)
    return widths[int(0.9 * (len(widths) - 1))] if widths else 0.0


def _continues(prev: _Line, line: _Line, current: str = "", full_width: float = 0.0) -> bool:
    """Whether `line` continues the paragraph that `prev` ends (`current`: the paragraph's last line): same font, and
    the same text box or a box right below it (pdfminer splits widely spaced lines into separate boxes). When
    `current` leaves a sentence open ("... you will get no" + "information ..."), also a box a little further
    below, the top of the next column, or a line of the same box in another font that starts in lowercase; and
    without final punctuation, a hanging-indented line below a long one (`full_width`: a full line's width)."""
    if prev.font != line.font:
        # Within a box, a sentence left open goes on in another font or size ("... the beneficiary of an" +
        # "employee who died, ..."), when the next line starts with a lowercase word; otherwise a heading ends here.
        return prev.box == line.box and continues_sentence(current, line.text) and starts_lowercase(line.text)
    if prev.box == line.box:
        return True
    gap = prev.y0 - line.y1
    height = max(line.height, 1.0)
    overlaps = min(prev.x1, line.x1) - max(prev.x0, line.x0) > 0
    if overlaps and -0.1 * line.height <= gap <= 1.0 * height:
        return True
    near = overlaps and 0 < gap <= _OPEN_SENTENCE_GAP * height
    if near and current and not ends_sentence(current) and _hangs(prev, line, full_width):
        return True
    if not continues_sentence(current, " ".join(line.text.split())):
        return False
    if near:
        return True  # double-spaced lines
    # The next column: it starts to the right of this line and higher up on the page, with a lowercase word.
    return starts_lowercase(line.text) and line.x0 >= prev.x1 - 0.05 * (prev.x1 - prev.x0) and line.y1 > prev.y1


def _page_paragraphs(page: LTLayoutContainer) -> list[str]:
    """One paragraph per element: wrapped lines joined, broken after sentence ends and at font or block changes
    (but never inside a word hyphenated at the break). Rotated text comes last, one paragraph per line."""
    lines: list[_Line] = []
    rotated: list[LTChar] = []
    box = [0]
    _page_lines(page, lines, box, rotated)
    lines.extend(_rotated_lines(rotated, box[0]))
    full_width = _full_width(lines)
    paragraphs: list[str] = []
    current = Paragraph()
    prev: _Line | None = None
    for line in lines:
        text = " ".join(line.text.split())
        if current and prev is not None and not _continues(prev, line, current.tail, full_width):
            if not continues_word(current.tail, text):
                paragraphs.append(current.take())
        current.add(text, hyphen=SOFT_HYPHEN)
        if ends_sentence(current.tail):
            paragraphs.append(current.take())
        prev = line
    if current:
        paragraphs.append(current.take())
    return paragraphs


def _remove_unmapped_glyphs(text: str) -> str:
    """Fail if most glyphs are (cid:N) (no ToUnicode map); otherwise drop the few that are."""
    unmapped = len(_CID.findall(text))
    if not unmapped:
        return text
    mapped = sum(1 for ch in _CID.sub("", text) if not ch.isspace())
    if unmapped / (unmapped + mapped) > MAX_CID_SHARE:
        raise ExtractionError(
            f"unmapped glyphs: text layer unreadable (cid:N) ({unmapped} of {unmapped + mapped} glyphs)",
            FailureClass.unreadable,
        )
    return re.sub(r"[ \t]+(?=[\n\f]|$)|(?<=[\n\f])[ \t]+", "", re.sub(r"[ \t]{2,}", " ", _CID.sub("", text)))


@dataclass
class OcrOptions:
    """OCR of pages without a text layer (see ingest.ocr). `enabled=False`: such pages fail as before."""

    enabled: bool = True
    languages: str = "eng"
    dpi: int = 300
    page_seconds: float = 60.0


# Image filters scanners and scan-to-PDF tools write: a file full of these and no text is a scan.
_SCAN_IMAGE = re.compile(rb"/(?:DCTDecode|JBIG2Decode|CCITTFaxDecode|JPXDecode)\b")


def unparsable_error(
    data: bytes, detail: str, outcome: str, scan_failure: FailureClass = FailureClass.unreadable
) -> ExtractionError:
    """Why pdfminer could not read the file, saying what the file is (a scan is not "corrupt"), and what came of
    trying it as a scan (`outcome`). A scan takes `scan_failure`, the class of that outcome; anything else is
    unreadable."""
    if b"%PDF-" not in data[:1024]:
        return ExtractionError(f"not a PDF: {detail}", FailureClass.unreadable)
    images = len(_SCAN_IMAGE.findall(data))
    if images:
        return ExtractionError(
            f"scanned PDF ({images} page image{'s' if images != 1 else ''}) whose structure pdfminer cannot parse "
            f"({detail}); {outcome}",
            scan_failure,
        )
    return ExtractionError(f"corrupt PDF: {detail}", FailureClass.unreadable)


def _open(data: bytes) -> PDFDocument:
    try:
        return PDFDocument(PDFParser(BytesIO(data)), password="")
    except PDFPasswordIncorrect as err:
        raise ExtractionError("encrypted (password required)", FailureClass.unsupported) from err
    except PDFEncryptionError as err:
        raise ExtractionError(f"encrypted (unsupported encryption: {_short(err)})", FailureClass.unsupported) from err
    except RecursionError as err:
        raise _Unparsable("recursion too deep (self-referencing objects)") from err
    except MemoryError:
        raise  # the extraction process's memory ceiling: ingest.sandbox reports it as such
    except Exception as err:
        raise _Unparsable(_short(err)) from err


class _Unparsable(Exception):
    """pdfminer could not parse the file's structure; PDFium may still render it (for OCR)."""


@dataclass
class _PageText:
    text: str = ""
    images: int = 0
    error: str | None = None
    ocr: bool = False  # the text was read by OCR
    ocr_tried: bool = False


@dataclass
class _Read:
    pages: list[_PageText] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unparsable: str | None = None  # why pdfminer could not read the file (its pages then came from PDFium)
    capped: bool = False  # pages past max_pages were left out


def _read_pages(doc: PDFDocument, max_pages: int, deadline: Deadline) -> _Read:
    laparams = LAParams(all_texts=True)  # lay out text inside form XObjects too, not as loose glyphs
    device = _GuardedAggregator(PDFResourceManager(caching=True), laparams, deadline)
    interpreter = _GuardedInterpreter(device.rsrcmgr, device)
    read = _Read()
    try:
        for page in PDFPage.create_pages(doc):
            if len(read.pages) >= max_pages:
                read.capped = True
                break
            device.check_deadline()
            before = device.images
            try:
                interpreter.process_page(page)
                layout = device.get_result()
                text = "\n".join(_page_paragraphs(layout)) if isinstance(layout, LTPage) else ""
                read.pages.append(_PageText(text, device.images - before))
            except RecursionError:
                read.errors.append("recursion too deep (self-referencing objects)")
                read.pages.append(_PageText(images=device.images - before, error=read.errors[-1]))
            except MemoryError:
                raise  # a page past the memory ceiling (a decompression bomb) fails the document, not just the page
            except Exception as err:  # noqa: BLE001 - keep the pages that do extract
                read.errors.append(_short(err))
                read.pages.append(_PageText(images=device.images - before, error=read.errors[-1]))
    except RecursionError as err:
        read.errors.append("recursion too deep (self-referencing objects)")
        if not read.pages:
            raise _Unparsable("recursion too deep in the page tree") from err
    except MemoryError:
        raise
    except Exception as err:
        read.errors.append(_short(err))
        if not read.pages:
            raise _Unparsable(_short(err)) from err
    if not read.pages:
        raise _Unparsable("no pages found")
    return read


def _ocr_into(
    data: bytes, pages: list[_PageText], numbers: list[int], ocr: OcrOptions, deadline: Deadline
) -> list[str]:
    """OCR the given 1-based pages into `pages`; returns the per-page failures."""
    from docsum.ingest.ocr import ocr_pages

    for number in numbers:
        pages[number - 1].ocr_tried = True
    done, errors = ocr_pages(data, numbers, ocr.languages, ocr.dpi, ocr.page_seconds, deadline.at)
    for number, page in done.items():
        pages[number - 1].text = page.text
        pages[number - 1].ocr = True
    return errors


def _scan_fallback(data: bytes, detail: str, max_pages: int, ocr: OcrOptions, deadline: Deadline) -> _Read:
    """pdfminer could not parse the file: PDFium renders its pages and OCR reads them, or a reason that says
    what the file is."""
    if not ocr.enabled:
        raise unparsable_error(data, detail, "it needs OCR, which is off (DOCSUM_OCR)", FailureClass.unsupported)
    from docsum.ingest.ocr import OcrUnavailable, page_count

    try:
        n = min(page_count(data), max_pages)
    except ExtractionError as err:
        if err.failure is FailureClass.unsupported:  # encrypted: PDFium says so, and that is the reason to keep
            raise
        raise unparsable_error(data, detail, "PDFium cannot open it either") from None
    if n == 0:
        raise unparsable_error(data, detail, "PDFium finds no pages either")
    read = _Read(pages=[_PageText(images=1) for _ in range(n)], unparsable=detail)
    try:
        read.errors.extend(_ocr_into(data, read.pages, list(range(1, n + 1)), ocr, deadline))
    except OcrUnavailable as err:
        raise unparsable_error(data, detail, err.reason, err.failure) from err
    return read


def extract_pdf(data: bytes, max_pages: int, time_limit_s: float, ocr: OcrOptions | None = None) -> Extracted:
    """Extract one PDF given as bytes; raises ExtractionError with a readable reason, or TimeLimitExceeded
    (checked in pdfminer's callbacks; the caller converts it, see ingest.extract)."""
    ocr = ocr or OcrOptions(enabled=False)
    deadline = Deadline(time_limit_s)
    doc: PDFDocument | None = None
    try:
        doc = _open(data)
        read = _read_pages(doc, max_pages, deadline)
    except _Unparsable as err:
        read = _scan_fallback(data, str(err), max_pages, ocr, deadline)

    if read.errors and all(p.error for p in read.pages):
        raise ExtractionError(f"corrupt PDF: no page could be read ({read.errors[0]})", FailureClass.unreadable)
    scanned = [i + 1 for i, p in enumerate(read.pages) if not p.ocr_tried and p.images and not p.text.strip()]
    ocr_note = ""
    if scanned and ocr.enabled:
        from docsum.ingest.ocr import OcrUnavailable

        try:
            read.errors.extend(_ocr_into(data, read.pages, scanned, ocr, deadline))
        except OcrUnavailable as err:
            ocr_note = err.reason
    text = _remove_unmapped_glyphs("\f".join(p.text for p in read.pages)).translate(_LIGATURES)
    text = resolve(text)
    if not text.replace("\f", "").strip():
        if read.unparsable is not None:
            failures = "; ".join(dict.fromkeys(read.errors[:2]))
            outcome = f"OCR found no text ({failures or 'blank pages'})"
            raise unparsable_error(data, read.unparsable, outcome, FailureClass.no_text)
        if any(p.images for p in read.pages):
            failure = FailureClass.unsupported  # a scan docsum cannot read as configured
            if not ocr.enabled:
                detail = "image-only pages (a scan); OCR is off (DOCSUM_OCR)"
            elif ocr_note:
                detail = f"image-only pages (a scan); {ocr_note}"
            else:
                failures = "; ".join(dict.fromkeys(read.errors[:2]))
                detail = "image-only pages (a scan); OCR found no text" + (f" ({failures})" if failures else "")
                failure = FailureClass.no_text
        else:
            detail, failure = "no text objects", FailureClass.no_text
        raise ExtractionError(f"no text layer ({detail})", failure)

    infos = [info for info in doc.info if isinstance(info, dict)] if doc is not None else []
    created = _info_value(infos, "CreationDate") or _info_value(infos, "ModDate")
    return Extracted(
        media_type=PDF,
        text=text,
        title=plausible_title(_info_value(infos, "Title")),
        author=_info_value(infos, "Author"),
        published=parse_pdf_date(created) if created else None,
        page_count=len(read.pages),
        notes=_cap_note(doc, max_pages) if read.capped and doc is not None else None,
        ocr_pages=[i + 1 for i, p in enumerate(read.pages) if p.ocr],
    )


def _cap_note(doc: PDFDocument, max_pages: int) -> str:
    """Says how much of a PDF past the page cap was left out (the page tree's own count, when it has one)."""
    try:
        total = resolve1(resolve1(doc.catalog.get("Pages")).get("Count"))
    except Exception:  # noqa: BLE001 - a broken page tree: say less
        total = None
    of = f" of {total}" if isinstance(total, int) and total > max_pages else ""
    return f"only the first {max_pages}{of} pages extracted (max_pdf_pages)"
