"""Fixtures for the bertsum tests (CPU, small models; helpers in bertsum_helpers.py)."""

from __future__ import annotations

import os

# Before transformers is imported: any attempt to reach the hub fails instead of downloading.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from collections.abc import Callable, Iterator

import pytest
import torch
from bertsum_helpers import build_small, load_tokenizer
from transformers import PreTrainedTokenizerBase

from docsum.bertsum.model import ExtSummarizer


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerBase:
    return load_tokenizer()


@pytest.fixture
def small_model(tokenizer: PreTrainedTokenizerBase) -> Callable[..., ExtSummarizer]:
    def make(**kwargs) -> ExtSummarizer:
        return build_small(tokenizer, **kwargs)

    return make


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """These models are tiny: one thread is faster than two on a machine shared with a training run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
