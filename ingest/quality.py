"""Extraction quality: token 4-gram shingle F1, the metric of the scrapinghub article-extraction benchmark.

Both sides are tokenized the same way (lowercase word tokens), so only extraction differences count.
Used by bench/html_extraction.py and the ingest tests.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = word_tokens(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(len(tokens) - n + 1, 0)))


def shingle_f1(predicted: str, expected: str, n: int = 4) -> float:
    """F1 of the multisets of token n-grams; 1.0 when both are empty, 0.0 when only one is."""
    pred, gold = shingles(predicted, n), shingles(expected, n)
    if not pred and not gold:
        return 1.0
    overlap = sum((pred & gold).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(pred.values())
    recall = overlap / sum(gold.values())
    return 2 * precision * recall / (precision + recall)
