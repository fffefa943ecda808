"""Summaries of strings and files, in this process: no queue, no database.

A string takes the path a `.txt` file of the same text takes through ingest: it is sniffed (HTML is extracted as
HTML), hard-wrapped lines are joined, a headline line is kept out as the title, the language is detected, sentences
are split by the one splitter and ingest's candidate rule decides which of them the model is offered; the model's
pick (or, when it picks nothing, the longest merely short lines, with a note) is the summary the worker fleet would
store. `summarize_file` does the same for a path or bytes, PDFs included. Indices are the stored sentences' indices,
counted from 0 as `index` is in `docsum results`.

Each selected sentence also carries its character span: in the caller's string for a text, so that
`text[start:end]` is the sentence as written there (line breaks and hyphenation included); in the extracted text
(`TextSummary.document_text`) for a file, as `start`/`end` are in `docsum results`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from docsum.config import Settings, get_settings
from docsum.errors import NoText
from docsum.ingest.citations import sentence_info
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import document_sentences, extract_document
from docsum.ingest.sniff import PDF
from docsum.services.models import get_summarizer, model_path
from docsum.services.summary_sentences import document_skips, no_summary_reason, offered_indices, to_stored

# The name a string is read under: ingest tells text from Markdown by the name only, and a string is plain text.
TEXT_NAME = "text.txt"

# Skipped on both sides when a sentence is located in the input: whitespace (lines are joined and spaces collapsed)
# and hyphens (a word split across lines is joined without its hyphen).
_IGNORED = frozenset("-\u00ad")


@dataclass(frozen=True)
class TextSummary:
    """The summary of one text: the selected sentences in document order, with their positions and scores."""

    sentences: list[str]  # the selected sentences, as the splitter gave them (whitespace collapsed)
    indices: list[int]  # their positions among the text's sentences
    scores: list[float]  # the model's score of each
    # (start, end) character offsets into the input: input[start:end] is the sentence as written (None: not found)
    spans: list[tuple[int, int] | None]
    n_sentences: int  # sentences the text was split into
    language: str | None  # detected language (None: too short to tell)
    model_id: str
    all_sentences: list[str] = field(default_factory=list, repr=False)  # every sentence of the text
    title: str | None = None  # a headline, kept out of the sentences as ingest keeps it
    pages: list[int | None] = field(default_factory=list)  # 1-based page of each selected sentence (PDFs)
    note: str | None = None  # set when the summary is not the model's pick (the longest short lines stand in)
    media_type: str | None = None
    document_text: str = field(default="", repr=False)  # the extracted text (a file's spans point into it)

    @property
    def text(self) -> str:
        """The summary as one string."""
        return " ".join(self.sentences)

    def __str__(self) -> str:
        return self.text


def extract(
    data: bytes, name: str, settings: Settings, language: str | None = None, what: str = "the text"
) -> Extracted:
    """The document ingest would store for these bytes under this name (text, title, sentences, citation records
    with the candidate verdicts). Raises NoText when there is nothing to summarize, with ingest's reason."""
    try:
        doc = extract_document(data, name, settings)
    except ExtractionError as error:
        if error.reason in ("no text", "empty file (0 bytes)"):
            raise NoText(f"{what} has no sentences to summarize") from None
        raise NoText(f"{what} cannot be read: {error.reason}") from None
    if language and language != doc.language:  # the caller knows better: split as ingest would for that language
        doc.language = language
        doc.sentences = document_sentences(doc.text, doc.title, language)
        doc.sentence_info = sentence_info(doc.text, doc.sentences, paged=doc.media_type == PDF, ocr_pages=doc.ocr_pages)
    return doc


def prepare(text: str, language: str | None = None, settings: Settings | None = None) -> tuple[list[str], str | None]:
    """The sentences ingest would store for this text (as a plain-text file), and its language."""
    doc = extract(text.encode("utf-8"), TEXT_NAME, settings or get_settings(), language)
    return doc.sentences, doc.language


def _skeleton(text: str) -> tuple[str, list[int]]:
    """The text without whitespace and hyphens, and where each kept character came from."""
    kept: list[str] = []
    positions: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace() or ch in _IGNORED:
            continue
        kept.append(ch)
        positions.append(i)
    return "".join(kept), positions


def locate(text: str, sentences: Sequence[str]) -> list[tuple[int, int] | None]:
    """Character spans of `sentences` (in document order) in `text`; None for one that cannot be found (the text
    path only joins lines, collapses spaces and drops hyphens, so every sentence of `prepare` is found)."""
    skeleton, positions = _skeleton(text)
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in sentences:
        needle, _ = _skeleton(sentence)
        if not needle:
            spans.append(None)
            continue
        at = skeleton.find(needle, cursor)
        if at < 0:
            at = skeleton.find(needle)
        if at < 0:
            spans.append(None)
            continue
        end = at + len(needle)
        spans.append((positions[at], positions[end - 1] + 1))
        cursor = end
    return spans


@dataclass
class _Prepared:
    doc: Extracted
    spans: list[tuple[int, int] | None]  # of every stored sentence
    skips: list[str | None]
    offered: list[int]


def _prepare(doc: Extracted, spans: list[tuple[int, int] | None], what: str) -> _Prepared:
    skips = document_skips(doc.sentences, doc.sentence_info)
    reason = no_summary_reason(doc.sentences, doc.sentence_info, skips)
    if reason is not None:
        raise NoText(f"{what} has nothing to summarize: {reason}")
    return _Prepared(doc, spans, skips, offered_indices(doc.sentences, doc.sentence_info, skips))


def _summaries(
    prepared: Sequence[_Prepared],
    settings: Settings,
    k: int,
    model: str | None,
    block_trigrams: bool,
    max_words: int | None,
) -> list[TextSummary]:
    """The worker's pick for each document: the model over the offered sentences, in one engine call, mapped back
    to stored indices; the longest merely short lines, with a note, when it picks nothing."""
    summarizer = get_summarizer(settings, model_path(settings, model))
    asked = [p for p in prepared if p.offered]
    results = summarizer.summarize(
        [[p.doc.sentences[i] for i in p.offered] for p in asked],
        k=k,
        block_trigrams=block_trigrams,
        max_words=max_words,
    )
    picks = {id(p): r for p, r in zip(asked, results, strict=True)}
    out = []
    for p in prepared:
        doc, result = p.doc, picks.get(id(p))
        picked, scores = (result.indices, result.scores) if result is not None else ([], [])
        stored = to_stored(doc.sentences, doc.sentence_info, p.offered, picked, scores, k, p.skips)
        info = doc.sentence_info
        out.append(
            TextSummary(
                sentences=[doc.sentences[i] for i in stored.indices],
                indices=list(stored.indices),
                scores=[float(s) for s in stored.scores],
                spans=[p.spans[i] for i in stored.indices],
                n_sentences=len(doc.sentences),
                language=doc.language,
                model_id=summarizer.model_id,
                all_sentences=doc.sentences,
                title=doc.title,
                pages=[info[i].get("page") if i < len(info) else None for i in stored.indices],
                note=stored.note,
                media_type=doc.media_type,
                document_text=doc.text,
            )
        )
    return out


def _check_k(k: int | None, settings: Settings) -> int:
    k = settings.summary_sentences if k is None else k
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k is the number of sentences per summary, an int, not {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return k


def summarize_texts(
    texts: Sequence[str],
    settings: Settings,
    k: int | None = None,
    model: str | None = None,
    block_trigrams: bool = True,
    max_words: int | None = None,
    language: str | None = None,
) -> list[TextSummary]:
    """Summaries of `texts`, in order, in one engine call (the engine batches them by its token budget).

    Raises NoText naming the first text without sentences (nothing is summarized then), FileNotFoundError for a
    model directory that does not exist.
    """
    k = _check_k(k, settings)
    prepared = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i + 1} of {len(texts)} is {type(text).__name__}, not str")
        what = f"text {i + 1} of {len(texts)}" if len(texts) > 1 else "the text"
        doc = extract(text.encode("utf-8"), TEXT_NAME, settings, language, what)
        prepared.append(_prepare(doc, locate(text, doc.sentences), what))
    if not prepared:
        return []
    return _summaries(prepared, settings, k, model, block_trigrams, max_words)


@overload
def summarize(text_or_texts: str, k: int | None = ..., **options: object) -> TextSummary: ...
@overload
def summarize(text_or_texts: Sequence[str], k: int | None = ..., **options: object) -> list[TextSummary]: ...


def summarize(
    text_or_texts: str | Sequence[str],
    k: int | None = None,
    *,
    model: str | None = None,
    settings: Settings | None = None,
    block_trigrams: bool = True,
    max_words: int | None = None,
    language: str | None = None,
) -> TextSummary | list[TextSummary]:
    """Summarize a string (returns a TextSummary) or a list of strings (returns a list), here and now.

    A string is always text, never a file name (`summarize_file` takes paths and bytes). `k` sentences per summary
    (default DOCSUM_SUMMARY_SENTENCES, 3); `model` a model directory (default the configured one). The model is
    loaded on the first call and kept for the next ones.
    """
    settings = settings or get_settings()
    single = isinstance(text_or_texts, str)
    texts = [text_or_texts] if single else _text_list(text_or_texts)
    results = summarize_texts(
        texts, settings, k=k, model=model, block_trigrams=block_trigrams, max_words=max_words, language=language
    )
    return results[0] if single else results


_ACCEPTS = "summarize takes a str or a list of str"


def _text_list(value: object) -> list[str]:
    """A list of texts from what `summarize` was given; a TypeError that says what it takes for anything else."""
    if value is None:
        raise TypeError(f"{_ACCEPTS}, not None")
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"{_ACCEPTS}, not {type(value).__name__}: decode it first (data.decode('utf-8')), or call "
            "docsum.summarize_file(data) for the bytes of a file"
        )
    if isinstance(value, os.PathLike):
        raise TypeError(f"{_ACCEPTS}, not a path ({type(value).__name__}): call docsum.summarize_file(path) for a file")
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"{_ACCEPTS}, not {type(value).__name__}")
    texts = list(value)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{_ACCEPTS}: text {i + 1} of {len(texts)} is {type(text).__name__}, not str")
    return texts


def summarize_file(
    source: str | os.PathLike[str] | bytes,
    k: int | None = None,
    *,
    name: str | None = None,
    model: str | None = None,
    settings: Settings | None = None,
    block_trigrams: bool = True,
    max_words: int | None = None,
    language: str | None = None,
) -> TextSummary:
    """Summarize one file (a path) or its bytes, here and now, as `docsum run` would: its type sniffed from the
    content (PDF, HTML, text, Markdown by the name), extracted, split and filtered by ingest.

    `name` is the file name bytes are read under (default `document.txt`; `.md` makes text Markdown). Spans point
    into `document_text`, pages are set for PDFs. Raises NoText when nothing can be summarized, with the reason.
    """
    settings = settings or get_settings()
    k = _check_k(k, settings)
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), name or "document.txt"
    else:
        path = Path(source)
        data, name = path.read_bytes(), name or path.name
    doc = extract(data, name, settings, language, what=name)
    spans = [(r["start"], r["end"]) if r.get("start") is not None else None for r in doc.sentence_info]
    prepared = _prepare(doc, [*spans, *([None] * (len(doc.sentences) - len(spans)))], name)
    return _summaries([prepared], settings, k, model, block_trigrams, max_words)[0]
