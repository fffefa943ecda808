"""The one sentence splitter: ingest stores its output, evaluation and training split reference text with it.

Newlines are paragraph boundaries (extractors emit one paragraph per line), so a sentence never spans
two paragraphs; within a paragraph sentencex (rule-based, deterministic, language-aware) splits.
"""

from __future__ import annotations

from sentencex import segment

FALLBACK_LANGUAGE = "en"
# The longest sentence kept whole. A longer one (a page of text with no sentence end, a table flattened to one line)
# is split at spaces into pieces of at most this many characters: a summary sentence stays readable, and the model
# reads only its first 200 words anyway.
MAX_SENTENCE_CHARS = 2000


def _language_code(language: str | None) -> str:
    """'en-US' / 'pt_BR' / None → a bare lowercase ISO code sentencex understands (it falls back itself)."""
    if not language:
        return FALLBACK_LANGUAGE
    code = language.strip().replace("_", "-").split("-")[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else FALLBACK_LANGUAGE


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """Split `text` into sentences: paragraphs on newlines (and form feeds), then sentences within each.

    Whitespace inside a sentence is collapsed to single spaces; empty pieces are dropped.
    """
    code = _language_code(language)
    sentences: list[str] = []
    for paragraph in text.replace("\f", "\n").splitlines():
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        try:
            pieces = segment(code, paragraph)
        except Exception:  # noqa: BLE001 - an unknown code must not lose the text
            pieces = segment(FALLBACK_LANGUAGE, paragraph)
        for piece in pieces:
            piece = piece.strip()
            if len(piece) > MAX_SENTENCE_CHARS:
                sentences.extend(cut_sentence(piece))
            elif piece:
                sentences.append(piece)
    return sentences


def cut_sentence(sentence: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at the last space before the limit (at the limit where a piece has
    no space in its second half)."""
    pieces = []
    rest = sentence
    while len(rest) > limit:
        space = rest.rfind(" ", 0, limit + 1)
        cut = space if space >= limit // 2 else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def over_long_sentences(text: str, language: str | None = None) -> int:
    """How many sentences of `text` `split_sentences` cuts into pieces (for the document's notes). Only lines longer
    than the limit are split again, so an ordinary text costs one scan."""
    code = _language_code(language)
    n = 0
    for paragraph in text.replace("\f", "\n").splitlines():
        if len(paragraph) > MAX_SENTENCE_CHARS:
            paragraph = " ".join(paragraph.split())
            n += sum(1 for piece in segment(code, paragraph) if len(piece.strip()) > MAX_SENTENCE_CHARS)
    return n
