"""PreSumm preprocessing on hand-made documents, against the tokenizer itself."""

from __future__ import annotations

from dataclasses import replace

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.preprocess import prepare

DOC = [
    "The council approved the new budget on Tuesday evening.",
    "Too short to keep.",  # 5 word tokens: dropped (PreSumm keeps sentences of MORE than 5 tokens)
    "Residents will see higher water bills starting next spring.",
    "Critics said the plan ignores the poorest neighbourhoods entirely.",
]


def _expected(tokenizer, sentences: list[str]) -> tuple[list[int], list[int], list[int]]:
    """[CLS] s1 [SEP] [CLS] s2 [SEP] ... with segments 0,1,0,... per sentence, straight from the tokenizer."""
    ids, segs, cls = [], [], []
    for i, s in enumerate(sentences):
        piece = (
            [tokenizer.cls_token_id] + tokenizer(s, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
        )
        cls.append(len(ids))
        ids += piece
        segs += [i % 2] * len(piece)
    return ids, segs, cls


def test_tokens_segments_and_cls_positions_match_the_tokenizer(tokenizer):
    for mode in ("truncate", "windows"):
        doc = prepare(DOC, tokenizer, BertSumConfig(long_mode=mode))
        assert doc.n_sentences == 4
        assert doc.kept == [0, 2, 3]
        assert len(doc.windows) == 1
        window = doc.windows[0]
        ids, segs, cls = _expected(tokenizer, [DOC[0], DOC[2], DOC[3]])
        assert window.input_ids.tolist() == ids
        assert window.token_type_ids.tolist() == segs
        assert window.cls_positions == cls
        assert all(window.input_ids[p] == tokenizer.cls_token_id for p in window.cls_positions)
        # uncased encoder: the text was lowercased
        assert tokenizer.convert_ids_to_tokens(ids[1]) == "the"


def test_short_sentences_dropped_at_five_tokens_and_kept_at_six(tokenizer):
    doc = prepare(["One two three four five.", "One two three four five six."], tokenizer, BertSumConfig())
    # "five." is 6 word tokens with the period, "five six." 7: count the words and punctuation like PTB does
    assert doc.kept == [0, 1]
    doc = prepare(["One two three four.", "One two three four five"], tokenizer, BertSumConfig())
    assert doc.kept == []  # 5 tokens each
    assert doc.windows == []
    doc = prepare(["One two three four five six"], tokenizer, BertSumConfig())
    assert doc.kept == [0]


def test_sentence_cut_at_200_word_tokens(tokenizer):
    words = [f"w{i}" for i in range(300)]
    doc = prepare([" ".join(words)], tokenizer, BertSumConfig(long_mode="truncate", max_pos=4096))
    expected = tokenizer(" ".join(words[:200]), add_special_tokens=False)["input_ids"]
    assert doc.windows[0].input_ids[1:-1].tolist() == expected


def test_truncate_mode_cuts_at_max_pos_with_a_final_sep(tokenizer):
    sentences = [f"Sentence number {i} talks about the harbour and the ferry schedule." for i in range(12)]
    config = BertSumConfig(long_mode="truncate", max_pos=64)
    doc = prepare(sentences, tokenizer, config)
    full, full_segs, full_cls = _expected(tokenizer, sentences)
    assert len(full) > 64
    window = doc.windows[0]
    assert len(window.input_ids) == 64
    assert window.input_ids[:63].tolist() == full[:63]  # PreSumm: src[:-1][:max_pos-1] + [SEP]
    assert window.input_ids[-1] == tokenizer.sep_token_id
    assert window.token_type_ids.tolist() == full_segs[:64]
    # sentences whose [CLS] falls beyond max_pos are dropped
    assert window.cls_positions == [p for p in full_cls if p < 64]
    assert doc.kept == list(range(len(window.cls_positions)))
    assert len(doc.kept) < len(sentences)


def test_truncate_mode_keeps_at_most_max_sents(tokenizer):
    sentences = [f"Line {i} has enough words to be kept." for i in range(150)]
    doc = prepare(sentences, tokenizer, BertSumConfig(long_mode="truncate", max_pos=100_000, max_sents=100))
    assert doc.kept == list(range(100))
    doc = prepare(sentences, tokenizer, BertSumConfig(long_mode="windows", max_sents_long=120))
    assert doc.kept == list(range(120))


def test_windows_mode_reads_the_whole_document_in_presumm_shaped_windows(tokenizer):
    sentences = [f"Paragraph {i} describes the storm damage along the northern coast road." for i in range(80)]
    config = BertSumConfig(long_mode="windows", max_pos=128)
    doc = prepare(sentences, tokenizer, config)
    full, _, _ = _expected(tokenizer, sentences)
    assert doc.kept == list(range(80))
    assert len(doc.windows) > 1
    assert [t for w in doc.windows for t in w.input_ids.tolist()] == full  # nothing cut, nothing repeated
    assert sum(len(w.cls_positions) for w in doc.windows) == 80
    for w in doc.windows:
        assert len(w.input_ids) <= 128
        assert w.input_ids[0] == tokenizer.cls_token_id and w.input_ids[-1] == tokenizer.sep_token_id
        assert w.token_type_ids[0] == 0  # each window starts its own 0,1,0,1 alternation
        assert all(w.input_ids[p] == tokenizer.cls_token_id for p in w.cls_positions)
    # the same document truncated keeps only the first window's worth
    truncated = prepare(sentences, tokenizer, replace(config, long_mode="truncate"))
    assert len(truncated.kept) < 80


def test_no_interval_segments(tokenizer):
    doc = prepare(DOC, tokenizer, BertSumConfig(use_interval=False))
    assert set(doc.windows[0].token_type_ids) == {0}
