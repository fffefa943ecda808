"""Test-time selection: top-k by score, trigram blocking, word budget, document order."""

from __future__ import annotations

import random

import pytest

from docsum.bertsum.select import n_words, select_summary

SENTS = [
    "The mayor opened the new bridge on Monday.",  # 0
    "Officials said the new bridge cost far more than planned.",  # 1: shares "the new bridge" with 0
    "Traffic on the river road fell by half within a week.",  # 2
    "A second crossing is planned for 2030.",  # 3
]


def test_top_k_in_document_order():
    assert select_summary(SENTS, [0.1, 0.2, 0.9, 0.8], k=2) == [2, 3]
    assert select_summary(SENTS, [0.9, 0.2, 0.3, 0.8], k=2) == [0, 3]  # ranked 0 then 3, returned in order
    assert select_summary(SENTS, [0.4, 0.2, 0.3, 0.8], k=3, block_trigrams=False) == [0, 2, 3]


def test_trigram_blocking_skips_a_sentence_repeating_a_trigram():
    scores = [0.9, 0.8, 0.7, 0.1]
    assert select_summary(SENTS, scores, k=2, block_trigrams=True) == [0, 2]
    assert select_summary(SENTS, scores, k=2, block_trigrams=False) == [0, 1]
    # case does not hide a repeat
    shouted = ["THE NEW BRIDGE is open to all traffic.", *SENTS[1:]]
    assert select_summary(shouted, scores, k=2) == [0, 2]


def test_word_budget_is_never_exceeded_and_shorter_sentences_still_fit():
    scores = [0.9, 0.8, 0.7, 0.6]
    # 0 (8 words) fits; 1 (10) would exceed 16; 2 (11) too; 3 (7) fits
    assert select_summary(SENTS, scores, k=3, max_words=16) == [0, 3]
    assert select_summary(SENTS, scores, k=3, max_words=3) == []
    rng = random.Random(0)
    for _ in range(200):
        scores = [rng.random() for _ in SENTS]
        budget = rng.randint(0, 40)
        chosen = select_summary(SENTS, scores, k=rng.randint(1, 4), block_trigrams=rng.random() < 0.5, max_words=budget)
        assert sum(n_words(SENTS[i]) for i in chosen) <= budget
        assert chosen == sorted(chosen)


def test_dropped_sentences_are_never_selected():
    scores = [0.0, 0.0, 0.5, 0.0]
    assert select_summary(SENTS, scores, k=3) == [2]
    assert select_summary(SENTS, [0.0] * 4, k=3) == []
    assert select_summary(SENTS, [0.9, 0.8, 0.7, 0.6], k=4, eligible=[False, True, False, True]) == [1, 3]
    assert select_summary([], [], k=3) == []


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="4 sentences but 3 scores"):
        select_summary(SENTS, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="k must be"):
        select_summary(SENTS, [0.1] * 4, k=-1)
