"""Sentence scores -> summary sentences: PreSumm's test-time selection, returned in document order.

Rank by score, walk down the ranking, skip a sentence that shares a lowercased word trigram with the summary so
far (PreSumm `_block_tri`), stop at k. With `max_words`, a sentence that would push the summary past the budget is
skipped (a shorter one further down may still fit); the budget is never exceeded.
"""

from __future__ import annotations

from collections.abc import Sequence

from docsum.bertsum.preprocess import WORD_TOKEN


def word_trigrams(sentence: str) -> set[tuple[str, ...]]:
    """Lowercased word/punctuation trigrams (the same tokens preprocessing counts, like PreSumm's PTB tokens)."""
    tokens = WORD_TOKEN.findall(sentence.lower())
    return set(zip(tokens, tokens[1:], tokens[2:]))


def n_words(sentence: str) -> int:
    return len(sentence.split())


def select_summary(
    sentences: Sequence[str],
    scores: Sequence[float],
    k: int = 3,
    block_trigrams: bool = True,
    max_words: int | None = None,
    eligible: Sequence[bool] | None = None,
) -> list[int]:
    """Indices of the chosen sentences in document order. Sentences not `eligible` (default: score 0.0, i.e.
    dropped by preprocessing) are never chosen; a document without an eligible sentence gives []."""
    if len(sentences) != len(scores):
        raise ValueError(f"{len(sentences)} sentences but {len(scores)} scores")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if max_words is not None and max_words < 0:
        raise ValueError(f"max_words must be >= 0, got {max_words}")
    if eligible is None:
        eligible = [s > 0.0 for s in scores]
    # Highest score first; ties go to the earlier sentence (stable sort).
    ranking = sorted((i for i in range(len(scores)) if eligible[i]), key=lambda i: -scores[i])
    chosen: list[int] = []
    seen: set[tuple[str, ...]] = set()
    words = 0
    for i in ranking:
        if len(chosen) >= k:
            break
        size = n_words(sentences[i]) if max_words is not None else 0
        if max_words is not None and words + size > max_words:
            continue
        if block_trigrams:
            trigrams = word_trigrams(sentences[i])
            if not trigrams.isdisjoint(seen):
                continue
            seen |= trigrams
        chosen.append(i)
        words += size
    return sorted(chosen)
