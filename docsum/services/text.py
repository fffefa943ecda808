"""Summaries of plain strings, in this process: no queue, no database.

A string goes through the text path of ingest (hard-wrapped lines joined, de-hyphenated, the language detected,
sentences split by the one splitter), then through this process's summarizer (the configured model, loaded once, its
engine batching by `max_batch_tokens`): what a `.txt` file of the same text gets from the worker fleet.

Each selected sentence also carries its character span in the caller's string, so that `text[start:end]` is the
sentence as written there (line breaks and hyphenation included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from docsum.config import Settings, get_settings
from docsum.errors import NoText
from docsum.ingest.extract import document_sentences
from docsum.ingest.language import detect_language
from docsum.ingest.reflow import reflow_text
from docsum.services.models import get_summarizer, model_path

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

    @property
    def text(self) -> str:
        """The summary as one string."""
        return " ".join(self.sentences)

    def __str__(self) -> str:
        return self.text


def prepare(text: str, language: str | None = None) -> tuple[list[str], str | None]:
    """The sentences ingest would store for this text (as a plain-text file), and its language."""
    plain = reflow_text(text)
    language = language or detect_language(plain)
    return document_sentences(plain, None, language), language


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
    k = settings.summary_sentences if k is None else k
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    prepared = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i + 1} of {len(texts)} is {type(text).__name__}, not str")
        sentences, lang = prepare(text, language)
        if not sentences:
            where = f"text {i + 1} of {len(texts)}" if len(texts) > 1 else "the text"
            raise NoText(f"{where} has no sentences to summarize")
        prepared.append((text, sentences, lang))
    if not prepared:
        return []
    summarizer = get_summarizer(settings, model_path(settings, model))
    results = summarizer.summarize([s for _, s, _ in prepared], k=k, block_trigrams=block_trigrams, max_words=max_words)
    out = []
    for (text, sentences, lang), result in zip(prepared, results, strict=True):
        chosen = [sentences[i] for i in result.indices]
        spans = locate(text, sentences)
        out.append(
            TextSummary(
                sentences=chosen,
                indices=list(result.indices),
                scores=[float(s) for s in result.scores],
                spans=[spans[i] for i in result.indices],
                n_sentences=len(sentences),
                language=lang,
                model_id=summarizer.model_id,
                all_sentences=sentences,
            )
        )
    return out


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

    `k` sentences per summary (default DOCSUM_SUMMARY_SENTENCES, 3); `model` a model directory (default the
    configured one). The model is loaded on the first call and kept for the next ones.
    """
    settings = settings or get_settings()
    single = isinstance(text_or_texts, str)
    texts = [text_or_texts] if single else list(text_or_texts)
    results = summarize_texts(
        texts, settings, k=k, model=model, block_trigrams=block_trigrams, max_words=max_words, language=language
    )
    return results[0] if single else results
