"""PreSumm's greedy oracle: the extractive labels BertSumExt trains on (Liu & Lapata 2019, PreSumm's data builder).

Add, one at a time, the sentence that most increases ROUGE-1 F + ROUGE-2 F (set-based n-gram overlap, words
stripped of non-alphanumerics) against the reference; stop when nothing improves or at `summary_size`.
"""

from __future__ import annotations

import re

_ALNUM_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lowercased alphanumeric words (PreSumm's `_rouge_clean` then split)."""
    return _ALNUM_WORD.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _f1(candidate: set, reference: set) -> float:
    if not candidate or not reference:
        return 0.0
    overlap = len(candidate & reference)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(candidate), overlap / len(reference)
    return 2 * precision * recall / (precision + recall)


def greedy_oracle(sentences: list[str], reference: list[str], summary_size: int = 3) -> list[int]:
    """Indices (sorted) of the greedily selected oracle sentences."""
    ref_tokens = [w for s in reference for w in words(s)]
    ref1, ref2 = _ngrams(ref_tokens, 1), _ngrams(ref_tokens, 2)
    sent_tokens = [words(s) for s in sentences]
    uni = [_ngrams(t, 1) for t in sent_tokens]
    bi = [_ngrams(t, 2) for t in sent_tokens]
    selected: list[int] = []
    best = 0.0
    for _ in range(summary_size):
        cur_best, cur_id = best, -1
        sel1 = set().union(*(uni[i] for i in selected)) if selected else set()
        sel2 = set().union(*(bi[i] for i in selected)) if selected else set()
        for i in range(len(sentences)):
            if i in selected:
                continue
            score = _f1(sel1 | uni[i], ref1) + _f1(sel2 | bi[i], ref2)
            if score > cur_best:
                cur_best, cur_id = score, i
        if cur_id == -1:
            break
        selected.append(cur_id)
        best = cur_best
    return sorted(selected)
