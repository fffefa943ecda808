"""Where each stored sentence sits in the stored text: character span and, for PDFs, its 1-based page.

The splitter collapses whitespace inside a sentence, so a sentence is found in the text as its words in order with
any whitespace between them. Pages are counted by the form feeds the PDF extractor puts between pages; a sentence
never spans a form feed (the splitter breaks paragraphs there).

`sentence_info` builds the per-sentence records stored beside `documents.sentences`:
`{"start": int, "end": int, "page": int | None, "skip": str | None, "ocr": bool}` (`skip`: why the sentence is
not a summary candidate, see ingest.candidates; `ocr`: the sentence was read from a page image).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Sequence
from typing import Any

from docsum.ingest.candidates import skip_reasons

PAGE_BREAK = "\f"


class AlignmentError(ValueError):
    """A sentence is not in the text (the two were not produced from each other)."""


_WORD = re.compile(r"\S+")


def locate_sentences(text: str, sentences: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of every sentence in `text`, searched in order: text[start:end] is the sentence with its
    original whitespace. Text between sentences (a headline kept as the title) is skipped.

    The text's words are joined by single spaces once, and each sentence is found in that with `str.find`; offsets
    map back through the words' starts. (A regex per sentence cost as much to compile as to search: seconds for a
    text of long sentences.)"""
    starts: list[int] = []  # each word's offset in `text`
    joined_starts: list[int] = []  # and in `joined`
    words: list[str] = []
    offset = 0
    for match in _WORD.finditer(text):
        starts.append(match.start())
        joined_starts.append(offset)
        words.append(match.group())
        offset += len(words[-1]) + 1
    joined = " ".join(words)

    def original(joined_offset: int, end: bool) -> int:
        # The word holding this offset (for an end: the word holding its last character), and the same offset in it.
        k = bisect_right(joined_starts, joined_offset - 1 if end else joined_offset) - 1
        return starts[k] + joined_offset - joined_starts[k]

    spans: list[tuple[int, int]] = []
    pos = 0  # in `joined`
    after = 0  # in `text`: where the previous sentence ended
    for sentence in sentences:
        needle = " ".join(sentence.split())
        if not needle:
            spans.append((after, after))
            continue
        found = joined.find(needle, pos)
        if found < 0:
            raise AlignmentError(f"sentence not found in the text after offset {after}: {sentence[:80]!r}")
        pos = found + len(needle)
        after = original(pos, end=True)
        spans.append((original(found, end=False), after))
    return spans


def page_starts(text: str) -> list[int]:
    """Offsets where each page begins (page 1 at 0)."""
    return [0] + [m.end() for m in re.finditer(PAGE_BREAK, text)]


def page_of(starts: Sequence[int], offset: int) -> int:
    """1-based page of a character offset, given `page_starts`."""
    return bisect_right(starts, offset)


def sentence_info(
    text: str, sentences: Sequence[str], paged: bool, ocr_pages: Collection[int] = ()
) -> list[dict[str, Any]]:
    """Per-sentence citation and candidate records (see the module docstring). `paged`: the text keeps page
    breaks (PDF), so every sentence gets a page."""
    spans = locate_sentences(text, sentences)
    starts = page_starts(text) if paged else None
    pages = [page_of(starts, start) for start, _end in spans] if starts is not None else [None] * len(spans)
    reasons = skip_reasons(sentences, pages if paged else None)
    return [
        {"start": start, "end": end, "page": page, "skip": reason, "ocr": page in ocr_pages}
        for (start, end), page, reason in zip(spans, pages, reasons)
    ]
