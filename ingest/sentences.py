"""The one sentence splitter: ingest stores its output, evaluation and training split reference text with it.

Newlines are paragraph boundaries (extractors emit one paragraph per line), so a sentence never spans
two paragraphs; within a paragraph sentencex (rule-based, deterministic, language-aware) splits.
"""

from __future__ import annotations

from sentencex import segment

FALLBACK_LANGUAGE = "en"


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
        sentences.extend(piece.strip() for piece in pieces if piece.strip())
    return sentences
