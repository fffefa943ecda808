"""Bytes of one document → Extracted (text, sentences, metadata), choosing the extractor by sniffed content."""

from __future__ import annotations

from pathlib import PurePosixPath

from docsum.config import Settings
from docsum.errors import FailureClass
from docsum.ingest.candidates import candidate_indices
from docsum.ingest.citations import sentence_info
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.language import detect_language
from docsum.ingest.sentences import MAX_SENTENCE_CHARS, over_long_sentences, split_sentences
from docsum.ingest.sniff import HEAD_BYTES, HTML, MARKDOWN, PDF, TEXT, is_archive, sniff_media_type
from docsum.ingest.timelimit import TimeLimitExceeded, cpu_alarm, time_limit_reason

# What an extension promises, to say so when the content disagrees ("report.pdf" full of random bytes).
_EXTENSION_TYPES = {".pdf": PDF, ".html": HTML, ".htm": HTML, ".txt": TEXT, ".md": MARKDOWN}


def _unsupported(media_type: str, name: str) -> ExtractionError:
    suffix = PurePosixPath(name).suffix.lower()
    what = "binary data" if media_type == "application/octet-stream" else media_type
    reason = f"unsupported content: {what}"
    if suffix in _EXTENSION_TYPES:
        reason += f" (named {suffix}, but the content is not {_EXTENSION_TYPES[suffix]})"
    return ExtractionError(reason, FailureClass.unsupported)


def extract_document(data: bytes, name: str, settings: Settings) -> Extracted:
    """Extract one document in this process; raises ExtractionError with the reason to store when it cannot be read.

    The time limit here is best effort (a CPU alarm in the main thread, deadline checks in the PDF extractor):
    ingest calls it through ingest.sandbox, whose child process is killed on a wall-clock deadline."""
    limit = settings.max_extract_seconds
    try:
        with cpu_alarm(limit):
            return _extract(data, name, settings)
    except TimeLimitExceeded as err:
        raise ExtractionError(time_limit_reason(limit), FailureClass.timeout) from err


def _extract(data: bytes, name: str, settings: Settings) -> Extracted:
    if not data:
        raise ExtractionError("empty file (0 bytes)", FailureClass.no_text)
    media_type = sniff_media_type(data[:HEAD_BYTES], name)
    if media_type == PDF:
        from docsum.ingest.pdf import OcrOptions, extract_pdf  # pdfminer import only when a PDF comes

        ocr = OcrOptions(settings.ocr, settings.ocr_languages, settings.ocr_dpi, settings.ocr_page_seconds)
        doc = extract_pdf(data, settings.max_pdf_pages, settings.max_extract_seconds, ocr)
    elif media_type == HTML:
        from docsum.ingest.html import extract_html  # trafilatura import only when HTML comes

        doc = extract_html(data, settings.max_html_chars)
    elif media_type in (TEXT, MARKDOWN):
        from docsum.ingest.text import extract_text_file

        doc = extract_text_file(data, media_type)
    elif is_archive(media_type):
        raise ExtractionError(
            f"nested archive ({media_type}) not ingested: extract it and ingest its contents", FailureClass.unsupported
        )
    else:
        raise _unsupported(media_type, name)
    doc.text = doc.text.replace("\x00", "")  # the database cannot store NUL; removed here so offsets stay true
    _cut_text(doc, settings.max_text_chars)
    if not doc.text.strip():
        raise ExtractionError("no text", FailureClass.no_text)
    doc.language = doc.language or detect_language(doc.text)
    doc.sentences = document_sentences(doc.text, doc.title, doc.language)
    if not doc.sentences:
        raise ExtractionError("no text", FailureClass.no_text)
    if long := over_long_sentences(doc.text, doc.language):
        s = "s" if long != 1 else ""
        doc.add_note(f"{long:,} sentence{s} over {MAX_SENTENCE_CHARS:,} characters cut into pieces")
    doc.sentence_info = sentence_info(doc.text, doc.sentences, paged=media_type == PDF, ocr_pages=doc.ocr_pages)
    return doc


def _cut_text(doc: Extracted, limit: int) -> None:
    """Cut a text longer than `limit` at the last line or sentence end before it (at `limit` if there is none in
    its last tenth), and say so in the notes."""
    if limit <= 0 or len(doc.text) <= limit:
        return
    head = doc.text[:limit]
    end = max(head.rfind("\n"), head.rfind(". "), head.rfind("? "), head.rfind("! "))
    cut = end + 1 if end >= limit * 0.9 else limit
    note = f"text cut to its first {cut:,} of {len(doc.text):,} characters (max_text_chars): the rest is not summarized"
    doc.text = doc.text[:cut]
    doc.add_note(note)


def _normalized(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def document_sentences(text: str, title: str | None = None, language: str | None = None) -> list[str]:
    """The sentences ingest stores for a text with this title: what training and evaluation must see too."""
    return without_leading_title(split_sentences(text, language), title)


def offered_sentences(text: str, title: str | None = None, language: str | None = None) -> list[str]:
    """The stored sentences a summarizer is offered (the candidates): what training and evaluation read, so that the
    model learns and is scored on the sentences it will pick from."""
    sentences = document_sentences(text, title, language)
    return [sentences[i] for i in candidate_indices(sentences)]


def without_leading_title(sentences: list[str], title: str | None) -> list[str]:
    """The headline is kept in `title`, not among the sentences to summarize: summarizers trained on news bodies
    read a leading headline as the first body sentence, and a summary would repeat the title."""
    if title and len(sentences) > 1 and _normalized(sentences[0]) == _normalized(title):
        return sentences[1:]
    return sentences
