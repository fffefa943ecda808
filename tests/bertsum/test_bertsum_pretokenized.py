"""Sentences tokenized ahead (at ingest) give the same windows and scores as tokenizing at summarize time, and tokens
under another tokenizer or word cut are never used."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from bertsum_helpers import make_doc
from tokenizers import Tokenizer

from docsum.bertsum.engine import InferenceEngine
from docsum.bertsum.model import bundled_encoder_dir
from docsum.bertsum.preprocess import SentenceTokens, encoder_for, prepare, tokenize_sentences, tokenizer_fingerprint

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "docsum-minilm-cnndm"


def _ahead(docs, tokenizer, config) -> list[SentenceTokens]:
    return tokenize_sentences(
        docs, encoder_for(tokenizer), tokenizer_fingerprint(tokenizer, config), config.max_sent_tokens
    )


def test_prepared_windows_are_identical_with_tokens_computed_ahead(small_model) -> None:
    model = small_model()
    long_sentence = " ".join(["word"] * 250) + "."  # past the 200-word cut
    docs = [make_doc(n) for n in (1, 4, 40)] + [["Short one.", long_sentence, "Another sentence of some length here."]]
    for config in (model.config, replace(model.config, long_mode="truncate")):
        for doc, tokens in zip(docs, _ahead(docs, model.tokenizer, config), strict=True):
            assert prepare(doc, model.tokenizer, config, tokens) == prepare(doc, model.tokenizer, config)


def test_the_tokenizer_file_and_the_loaded_tokenizer_agree(tokenizer) -> None:
    """Ingest reads tokenizer.json with the `tokenizers` library (no torch); the model loads it with transformers.
    Both must give the same fingerprint and the same ids, or tokens computed ahead would be refused or wrong."""
    from docsum.bertsum.config import BertSumConfig

    config = BertSumConfig()
    for directory in (bundled_encoder_dir(), SHIPPED):
        raw = Tokenizer.from_file(str(directory / "tokenizer.json"))  # carries padding and truncation settings
        assert tokenizer_fingerprint(raw, config) == tokenizer_fingerprint(tokenizer, config)
        texts = ["Hello World, a Test of ünïcode: 3.5 billion.", "Short"]
        assert encoder_for(raw)(texts) == tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert tokenizer_fingerprint(tokenizer, replace(config, max_sent_tokens=50)) != tokenizer_fingerprint(
        tokenizer, config
    )


def test_the_engine_uses_matching_tokens_and_redoes_stale_ones(small_model) -> None:
    model = small_model()
    docs = [make_doc(n) for n in (3, 12, 30)]
    expected = InferenceEngine(model, max_batch_tokens=2048).score(docs)
    ahead = _ahead(docs, model.tokenizer, model.config)
    assert InferenceEngine(model, max_batch_tokens=2048).score(docs, ahead) == expected

    # Tokens under another fingerprint (another tokenizer, or a stale cut) are ignored, even if they are garbage.
    stale = [SentenceTokens("0" * 16, t.words, [[1] * len(ids) for ids in t.ids]) for t in ahead]
    assert InferenceEngine(model, max_batch_tokens=2048).score(docs, [stale[0], None, stale[2]]) == expected

    # Tokens that are this model's are really used (not silently recomputed): garbage under the right fingerprint
    # changes the scores.
    forged = [SentenceTokens(t.fingerprint, t.words, [[1000] * len(ids) for ids in t.ids]) for t in ahead]
    assert InferenceEngine(model, max_batch_tokens=2048).score(docs, forged) != expected


def test_stored_tokens_read_back_exactly_and_damage_is_refused(small_model) -> None:
    model = small_model()
    long_sentence = " ".join(["word"] * 250) + "."
    docs = [make_doc(7), [], ["One.", long_sentence, "Ünïcode and 3.5 billion numbers, too."]]
    for tokens in _ahead(docs, model.tokenizer, model.config):
        stored = tokens.to_bytes()
        assert SentenceTokens.from_bytes(tokens.fingerprint, stored) == tokens
        for damaged in (stored[:-4], stored[:-1], b"", stored[:8] + b"\x00" * 4):
            if damaged != stored:
                with pytest.raises(ValueError, match="stored tokens"):
                    SentenceTokens.from_bytes(tokens.fingerprint, damaged)
    other_format = (2).to_bytes(4, "little") + stored[4:]
    with pytest.raises(ValueError, match="format 2"):
        SentenceTokens.from_bytes("x", other_format)
    with pytest.raises(ValueError, match="token lists"):
        SentenceTokens("x", [1, 2], [[5]]).to_bytes()


def test_stored_tokens_of_some_sentences_only(small_model) -> None:
    model = small_model()
    (tokens,) = _ahead([make_doc(9)], model.tokenizer, model.config)
    stored = tokens.to_bytes()
    assert SentenceTokens.count(stored) == 9
    picked = SentenceTokens.from_bytes(tokens.fingerprint, stored, only=[7, 0, 3])
    assert picked.words == [tokens.words[i] for i in (7, 0, 3)]
    assert picked.ids == [tokens.ids[i] for i in (7, 0, 3)]
    assert SentenceTokens.from_bytes(tokens.fingerprint, stored, only=[]) == SentenceTokens(tokens.fingerprint, [], [])
