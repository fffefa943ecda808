"""PDF → text with pdfminer.six: reading order, pages kept (joined with "\f"), info-dict metadata.

Guards: the empty password is tried (as pdfminer does) and anything else fails as encrypted; pages are
capped; a deadline is checked inside pdfminer's rendering callbacks (ingest.timelimit; ingest.extract adds
a CPU alarm around the whole document); any exception pdfminer raises (RecursionError included) becomes a
readable reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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

from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.reflow import ends_sentence, join_lines
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
        self.images = 0

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

_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:(Z)|([+\-])(\d{2})'?(\d{2})?'?)?"
)


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
            tz = timezone.utc
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


def _page_lines(item: LTLayoutContainer, lines: list[_Line], box: list[int]) -> None:
    """Text lines of a laid-out page in pdfminer's reading order (boxes in order, lines within each box)."""
    for child in item:
        if isinstance(child, LTTextBox):
            box[0] += 1
            for line in child:
                if isinstance(line, LTTextLine) and line.get_text().strip():
                    lines.append(_Line(line.get_text(), box[0], line.x0, line.x1, line.y0, line.y1, _font_signature(line)))
        elif isinstance(child, LTTextLine) and child.get_text().strip():
            box[0] += 1
            lines.append(_Line(child.get_text(), box[0], child.x0, child.x1, child.y0, child.y1, _font_signature(child)))
        elif isinstance(child, LTFigure):
            _page_lines(child, lines, box)


def _continues(prev: _Line, line: _Line) -> bool:
    """Whether `line` continues the paragraph that `prev` ends: same font, and the same text box or a box
    right below it (pdfminer splits widely spaced lines into separate boxes)."""
    if prev.font != line.font:
        return False
    if prev.box == line.box:
        return True
    gap = prev.y0 - line.y1
    overlaps = min(prev.x1, line.x1) - max(prev.x0, line.x0) > 0
    return overlaps and -0.1 * line.height <= gap <= 1.0 * max(line.height, 1.0)


def _page_paragraphs(page: LTLayoutContainer) -> list[str]:
    """One paragraph per element: wrapped lines joined, broken after sentence ends and at font or block changes."""
    lines: list[_Line] = []
    _page_lines(page, lines, [0])
    paragraphs: list[str] = []
    current = ""
    prev: _Line | None = None
    for line in lines:
        text = " ".join(line.text.split())
        if current and prev is not None and not _continues(prev, line):
            paragraphs.append(current)
            current = ""
        current = join_lines(current, text)
        if ends_sentence(current):
            paragraphs.append(current)
            current = ""
        prev = line
    if current:
        paragraphs.append(current)
    return paragraphs


def _remove_unmapped_glyphs(text: str) -> str:
    """Fail if most glyphs are (cid:N) (no ToUnicode map); otherwise drop the few that are."""
    unmapped = len(_CID.findall(text))
    if not unmapped:
        return text
    mapped = sum(1 for ch in _CID.sub("", text) if not ch.isspace())
    if unmapped / (unmapped + mapped) > MAX_CID_SHARE:
        raise ExtractionError(
            f"unmapped glyphs: text layer unreadable (cid:N) ({unmapped} of {unmapped + mapped} glyphs)"
        )
    return re.sub(r"[ \t]+(?=[\n\f]|$)|(?<=[\n\f])[ \t]+", "", re.sub(r"[ \t]{2,}", " ", _CID.sub("", text)))


def _open(data: bytes) -> PDFDocument:
    try:
        return PDFDocument(PDFParser(BytesIO(data)), password="")
    except PDFPasswordIncorrect as err:
        raise ExtractionError("encrypted (password required)") from err
    except PDFEncryptionError as err:
        raise ExtractionError(f"encrypted (unsupported encryption: {_short(err)})") from err
    except RecursionError as err:
        raise ExtractionError("corrupt PDF: recursion too deep (self-referencing objects)") from err
    except MemoryError:
        raise  # the extraction process's memory ceiling: ingest.sandbox reports it as such
    except Exception as err:  # noqa: BLE001 - pdfminer raises many unrelated types on broken files
        raise ExtractionError(f"corrupt PDF: {_short(err)}") from err


def extract_pdf(data: bytes, max_pages: int, time_limit_s: float) -> Extracted:
    """Extract one PDF given as bytes; raises ExtractionError with a readable reason, or TimeLimitExceeded
    (checked in pdfminer's callbacks; the caller converts it, see ingest.extract)."""
    deadline = Deadline(time_limit_s)
    doc = _open(data)
    laparams = LAParams(all_texts=True)  # lay out text inside form XObjects too, not as loose glyphs
    device = _GuardedAggregator(PDFResourceManager(caching=True), laparams, deadline)
    interpreter = _GuardedInterpreter(device.rsrcmgr, device)

    pages: list[str] = []
    page_errors: list[str] = []
    capped = False
    try:
        for page in PDFPage.create_pages(doc):
            if len(pages) >= max_pages:
                capped = True
                break
            device.check_deadline()
            try:
                interpreter.process_page(page)
                layout = device.get_result()
                pages.append("\n".join(_page_paragraphs(layout)) if isinstance(layout, LTPage) else "")
            except RecursionError:
                page_errors.append("recursion too deep (self-referencing objects)")
                pages.append("")
            except MemoryError:
                raise  # a page past the memory ceiling (a decompression bomb) fails the document, not just the page
            except Exception as err:  # noqa: BLE001 - keep the pages that do extract
                page_errors.append(_short(err))
                pages.append("")
    except RecursionError as err:
        page_errors.append("recursion too deep (self-referencing objects)")
        if not pages:
            raise ExtractionError("corrupt PDF: recursion too deep in the page tree") from err
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - a broken page tree: keep what was read
        page_errors.append(_short(err))
        if not pages:
            raise ExtractionError(f"corrupt PDF: {_short(err)}") from err

    if not pages:
        raise ExtractionError("corrupt PDF: no pages found")
    if page_errors and len(page_errors) == len(pages):
        raise ExtractionError(f"corrupt PDF: no page could be read ({page_errors[0]})")
    text = _remove_unmapped_glyphs("\f".join(pages)).translate(_LIGATURES)
    if not text.replace("\f", "").strip():
        detail = "image-only pages; OCR is not supported" if device.images else "no text objects"
        raise ExtractionError(f"no text layer ({detail})")

    infos = [info for info in doc.info if isinstance(info, dict)]
    created = _info_value(infos, "CreationDate") or _info_value(infos, "ModDate")
    return Extracted(
        media_type=PDF,
        text=text,
        title=_info_value(infos, "Title"),
        author=_info_value(infos, "Author"),
        published=parse_pdf_date(created) if created else None,
        page_count=len(pages),
        notes=_cap_note(doc, max_pages) if capped else None,
    )


def _cap_note(doc: PDFDocument, max_pages: int) -> str:
    """Says how much of a PDF past the page cap was left out (the page tree's own count, when it has one)."""
    try:
        total = resolve1(resolve1(doc.catalog.get("Pages")).get("Count"))
    except Exception:  # noqa: BLE001 - a broken page tree: say less
        total = None
    of = f" of {total}" if isinstance(total, int) and total > max_pages else ""
    return f"only the first {max_pages}{of} pages extracted (max_pdf_pages)"
