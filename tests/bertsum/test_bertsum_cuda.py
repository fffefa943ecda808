"""GPU checks (run by bench/gpu_check.sh on a CUDA machine): bf16 autocast agrees with fp32, batched equals
alone, an out-of-memory error halves the batch, and the GPU agrees with the CPU."""

from __future__ import annotations

import copy
import random
import warnings

import pytest
import torch
from bertsum_helpers import make_doc
from transformers import AutoConfig, AutoModel, AutoTokenizer

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.engine import InferenceEngine
from docsum.bertsum.model import ExtSummarizer, bundled_encoder_dir

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _docs() -> list[list[str]]:
    rng = random.Random(11)
    return [make_doc(n, words=rng.randint(8, 30), topic=f"t{n}") for n in (1, 4, 180, 9, 60, 0, 300, 25)]


def _close(a: list[list[float]], b: list[list[float]], atol: float) -> None:
    for x, y in zip(a, b):
        torch.testing.assert_close(torch.tensor(x), torch.tensor(y), atol=atol, rtol=0)


@pytest.fixture(scope="module")
def minilm() -> ExtSummarizer:
    """The bundled MiniLM; where only its config and tokenizer travelled (bench/gpu_check.sh), the same
    architecture with random weights: these checks compare precisions and batchings, not summaries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ExtSummarizer.from_pretrained(bundled_encoder_dir(), device="cuda")
        except OSError:
            pass
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(bundled_encoder_dir())
    encoder = AutoModel.from_config(config, add_pooling_layer=False, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_encoder_dir()), local_files_only=True, use_fast=True)
    return ExtSummarizer(BertSumConfig(name="minilm-random"), encoder, tokenizer).eval().to("cuda")


def test_bf16_autocast_agrees_with_fp32(minilm):
    docs = _docs()
    bf16 = InferenceEngine(minilm, max_batch_tokens=8192)  # "auto": bf16 on CUDA
    fp32 = InferenceEngine(minilm, max_batch_tokens=8192, amp_dtype=None)
    a, b = bf16.score(docs), fp32.score(docs)
    _close(a, b, atol=3e-2)
    assert bf16.stats.padding_waste < 0.15


def test_batched_equals_alone_on_gpu(minilm):
    docs = _docs()
    engine = InferenceEngine(minilm, max_batch_tokens=2048, amp_dtype=None)
    batched = engine.score(docs)
    assert engine.stats.batches > 3
    for doc, scores in zip(docs, batched):
        _close([scores], InferenceEngine(minilm, max_batch_tokens=100_000, amp_dtype=None).score([doc]), atol=1e-4)


def test_gpu_agrees_with_cpu(small_model):
    cpu = small_model(seed=2)
    gpu = copy.deepcopy(cpu).to("cuda")
    docs = _docs()
    _close(
        InferenceEngine(gpu, amp_dtype=None).score(docs), InferenceEngine(cpu, amp_dtype=None).score(docs), atol=1e-4
    )


def test_out_of_memory_halves_the_batch_on_gpu(minilm):
    docs = _docs()
    expected = InferenceEngine(minilm, max_batch_tokens=16384, amp_dtype=None).score(docs)
    model = minilm
    original = model.encode_windows
    calls = {"n": 0}

    def flaky_encoder(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original(*args, **kwargs)

    model.encode_windows = flaky_encoder
    try:
        engine = InferenceEngine(
            model, max_batch_tokens=16384, amp_dtype=None, max_padding=1.0
        )  # first batch: many windows
        got = engine.score(docs)
    finally:
        del model.encode_windows
    assert engine.stats.oom_splits == 1
    _close(got, expected, atol=1e-4)
