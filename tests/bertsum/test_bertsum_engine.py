"""The batched inference engine: equal to scoring each document alone, reads long documents, selects, splits on OOM."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch
from bertsum_helpers import make_doc

from docsum.bertsum.batching import collate
from docsum.bertsum.engine import InferenceEngine, Summary
from docsum.bertsum.preprocess import prepare


def _forward_alone(model, sentences: list[str]) -> list[float]:
    """The reference: one document through `model.forward(collate([doc]))`, mapped to input indices."""
    doc = prepare(sentences, model.tokenizer, model.config)
    scores = [0.0] * len(sentences)
    if not doc.windows:
        return scores
    with torch.inference_mode():
        batch = collate([doc], model.tokenizer.pad_token_id)
        probs = torch.sigmoid(model(*batch.as_tuple()))[0]
    for j, i in enumerate(doc.kept):
        scores[i] = float(probs[j])
    return scores


def _mixed_docs() -> list[list[str]]:
    rng = random.Random(3)
    docs = [make_doc(n, words=rng.randint(8, 30), topic=f"t{n}") for n in (1, 3, 150, 7, 40, 2, 90, 12, 0, 260)]
    docs.append(["Tiny.", "Also tiny here."])  # nothing usable: all 0.0
    docs.append(["Tiny.", make_doc(1)[0], "Short one too."])  # one usable sentence among dropped ones
    return docs


@pytest.mark.parametrize("max_padding", [0.1, 1.0])
def test_batched_equals_each_document_alone(small_model, max_padding):
    model = small_model()
    docs = _mixed_docs()
    engine = InferenceEngine(model, max_batch_tokens=1024, buffer_batches=4, max_padding=max_padding, amp_dtype="fp32")
    batched = engine.score(docs)
    assert engine.stats.batches >= 5  # several token-budget batches and buffers formed
    assert engine.stats.padded_tokens <= 1024 * engine.stats.batches
    if max_padding < 1:
        assert engine.stats.padding_waste <= max_padding
    assert max(len(prepare(d, model.tokenizer, model.config).windows) for d in docs) >= 8  # long documents included
    for sentences, scores in zip(docs, batched):
        assert len(scores) == len(sentences)
        torch.testing.assert_close(
            torch.tensor(scores), torch.tensor(_forward_alone(model, sentences)), atol=1e-5, rtol=1e-4
        )
        alone = InferenceEngine(model, max_batch_tokens=100_000, amp_dtype="fp32").score([sentences])[0]
        torch.testing.assert_close(torch.tensor(scores), torch.tensor(alone), atol=1e-5, rtol=1e-4)
    assert batched[-2] == [0.0, 0.0]
    assert batched[-1][0] == 0.0 and batched[-1][1] > 0.0 and batched[-1][2] == 0.0
    assert engine.score([]) == []


def test_prefetch_thread_and_small_head_groups_give_the_same_scores(small_model):
    model = small_model()
    docs = _mixed_docs()
    expected = InferenceEngine(model, max_batch_tokens=2048, amp_dtype="fp32").score(docs)
    engine = InferenceEngine(
        model, max_batch_tokens=512, prefetch=True, max_group_sentences=64, buffer_batches=2, amp_dtype="fp32"
    )
    got = engine.score(docs)
    assert engine.stats.ext_groups > 3
    for a, b in zip(got, expected):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-4)


def test_head_groups_keep_their_padding_under_the_cap(small_model):
    """The head, like the encoder, groups documents of similar sentence counts: at most 10% padded slots by default,
    where one group of the whole buffer computes several slots per real sentence; the scores do not change."""
    model = small_model()
    docs = _mixed_docs()
    uncapped = InferenceEngine(model, max_head_padding=1.0, amp_dtype="fp32")
    capped = InferenceEngine(model, amp_dtype="fp32")
    expected, got = uncapped.score(docs), capped.score(docs)
    assert uncapped.stats.head_slots > 3 * uncapped.stats.head_sentences  # one group, padded to its longest
    assert capped.stats.head_sentences == uncapped.stats.head_sentences
    assert capped.stats.head_slots <= 1.1 * capped.stats.head_sentences
    for a, b in zip(got, expected):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-4)


def test_out_of_memory_halves_the_batch_and_scores_stay_equal(small_model):
    """CUDA OOM cannot be produced on demand: the encoder raises torch.OutOfMemoryError on its first two calls."""
    model = small_model()
    docs = _mixed_docs()
    expected = InferenceEngine(model, max_batch_tokens=4096, amp_dtype="fp32").score(docs)
    original = model.encode_windows
    calls = {"n": 0}

    def flaky_encoder(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original(*args, **kwargs)

    model.encode_windows = flaky_encoder
    engine = InferenceEngine(
        model, max_batch_tokens=4096, max_padding=1.0, amp_dtype="fp32"
    )  # a first batch of several windows
    got = engine.score(docs)
    assert engine.stats.oom_splits == 2
    for a, b in zip(got, expected):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-4)
    # a single window that does not fit is a real error, not an endless split
    model.encode_windows = lambda *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("always"))
    with pytest.raises(torch.OutOfMemoryError):
        InferenceEngine(model, max_batch_tokens=4096, amp_dtype="fp32").score([make_doc(1)])


def test_summaries_are_in_document_order_with_their_scores(small_model):
    model = small_model()
    docs = [
        [
            "The city council met on Tuesday to discuss the harbour plan.",
            "Ferry operators warned that fares would rise next year.",
            "Short.",
            "Residents asked for more buses on the northern routes.",
            "A new school will open near the station in the autumn.",
        ],
        ["Only.", "Tiny words."],
    ]
    summaries = model.summarize(docs, k=2)
    scores = model.score(docs)
    first = summaries[0]
    assert isinstance(first, Summary)
    assert len(first.indices) == 2 and first.indices == sorted(first.indices)
    assert 2 not in first.indices
    ranked = sorted((i for i in range(5) if i != 2), key=lambda i: -scores[0][i])
    assert set(first.indices) == set(ranked[:2])  # no shared trigrams among these sentences
    assert first.scores == [scores[0][i] for i in first.indices]
    assert first.text == " ".join(docs[0][i] for i in first.indices)
    assert summaries[1] == Summary([], [], "")
    budget = model.summarize(docs, k=3, max_words=12)[0]
    assert sum(len(docs[0][i].split()) for i in budget.indices) <= 12


def test_bad_input_is_a_clear_error(small_model):
    model = small_model()
    with pytest.raises(TypeError, match="list of sentence strings"):
        model.score(["one document passed as a plain list of sentences"])
    with pytest.raises(TypeError, match=r"docs\[0\]\[1\] is int"):
        model.score([["A sentence with enough words in it.", 3]])
    # any iterable of documents is read once
    docs = [make_doc(4), make_doc(2)]
    assert model.score(iter(docs)) == model.score(docs)
    assert model.summarize(tuple(d) for d in docs) == model.summarize(docs)


def test_scoring_leaves_a_training_model_in_training_mode(small_model):
    model = small_model()
    model.train()
    a = model.score([make_doc(5)])
    b = model.score([make_doc(5)])
    assert a == b  # dropout was off while scoring
    assert model.training


# ---- long documents ----------------------------------------------------------------------------------------------
FILLERS = [
    "river",
    "council",
    "budget",
    "season",
    "engine",
    "letter",
    "garden",
    "station",
    "report",
    "winter",
    "harbour",
]


def _zebra_detector(model, zebra_id: int) -> None:
    """Set weights so that a sentence's score depends on whether its window contains the token `zebra`:
    - embeddings: feature f(v) = v[0] - v[1] is 0 for every token, position and segment, and large for `zebra`;
      LayerNorm (equal weights on dims 0 and 1) only rescales f;
    - encoder layers: zero queries/keys = uniform attention over the window, identity values, no feed-forward,
      so a [CLS] vector's f is the window's share of `zebra`; the last LayerNorm scales by 100 so the head's
      sinusoidal sentence positions (|f(pe)| <= 1.5) are small against it;
    - head: identity layers, score = sigmoid(30 * f(LayerNorm(x)) - 5): about 0.99 with `zebra`, 0.01 without."""
    encoder = model.bert.model
    with torch.no_grad():
        emb = encoder.embeddings
        for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
            table.weight[:, 1] = table.weight[:, 0]
        emb.word_embeddings.weight[zebra_id, 0] = 5.0
        emb.word_embeddings.weight[zebra_id, 1] = -5.0
        size = encoder.config.hidden_size
        for layer in encoder.encoder.layer:
            attn = layer.attention
            for lin in (attn.self.query, attn.self.key, layer.output.dense):
                lin.weight.zero_()
                lin.bias.zero_()
            for lin in (attn.self.value, attn.output.dense):
                lin.weight.copy_(torch.eye(size))
                lin.bias.zero_()
        encoder.encoder.layer[-1].output.LayerNorm.weight.fill_(100.0)
        head = model.ext_layer
        for layer in head.transformer_inter:
            for lin in (layer.self_attn.final_linear, layer.feed_forward.w_2):
                lin.weight.zero_()
                lin.bias.zero_()
        head.layer_norm.weight.fill_(1.0)
        head.layer_norm.bias.zero_()
        head.wo.weight.zero_()
        head.wo.weight[0, 0], head.wo.weight[0, 1] = 30.0, -30.0
        head.wo.bias.fill_(-5.0)


def test_a_sentence_after_token_3000_can_win_and_is_dropped_by_truncation(small_model):
    # Windows of 48 tokens hold one sentence each (every sentence has 24+ tokens), so a window is a sentence.
    model = small_model(max_pos=48)
    zebra_id = model.tokenizer.convert_tokens_to_ids("zebra")
    _zebra_detector(model, zebra_id)
    rng = random.Random(7)
    sentences = ["The " + " ".join(rng.choice(FILLERS) for _ in range(rng.randint(22, 28))) + "." for _ in range(150)]
    target = 130
    sentences[target] = "A zebra was seen near the " + " ".join(rng.choice(FILLERS) for _ in range(20)) + "."
    doc = prepare(sentences, model.tokenizer, model.config)
    assert all(len(w.cls_positions) == 1 for w in doc.windows)
    offset = sum(len(w.input_ids) for w in doc.windows[:target])
    assert offset > 3000 and zebra_id in doc.windows[target].input_ids

    scores = model.score([sentences])[0]
    assert scores[target] > 0.9
    assert max(s for i, s in enumerate(scores) if i != target) < 0.1
    assert model.summarize([sentences], k=1)[0].indices == [target]
    assert target in model.summarize([sentences], k=3)[0].indices

    # PreSumm's truncation (512 tokens) never reads it: score 0.0, never selected.
    model.config = replace(model.config, long_mode="truncate", max_pos=512)
    truncated = InferenceEngine(model)
    scores = truncated.score([sentences])[0]
    assert scores[target] == 0.0
    assert 0 < sum(s > 0 for s in scores) < 25
    assert target not in truncated.summarize([sentences], k=3)[0].indices
