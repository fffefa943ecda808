"""Helpers for the bertsum tests: small random summarizers (a 2-layer BERT of hidden size 32 with the bundled
tokenizer's vocabulary, built in memory in milliseconds) and synthetic documents."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.model import ExtSummarizer, bundled_encoder_dir

HIDDEN = 32


def load_tokenizer() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(bundled_encoder_dir()), local_files_only=True, use_fast=True)


def small_encoder_config(tokenizer: PreTrainedTokenizerBase, max_position_embeddings: int = 512) -> BertConfig:
    return BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        attn_implementation="sdpa",
    )


def build_small(
    tokenizer: PreTrainedTokenizerBase, seed: int = 0, max_position_embeddings: int = 512, **config
) -> ExtSummarizer:
    """A random small summarizer in eval mode; `config` overrides BertSumConfig fields."""
    torch.manual_seed(seed)
    encoder = BertModel(small_encoder_config(tokenizer, max_position_embeddings), add_pooling_layer=False)
    defaults = dict(name="tiny", ext_heads=4, ext_ff_size=64, max_pos=max_position_embeddings)
    model = ExtSummarizer(BertSumConfig(**{**defaults, **config}), encoder, tokenizer)
    # Perturb the head (its init is fixed at seed 0, biases and LayerNorms trivial) so every weight matters.
    with torch.no_grad():
        for p in model.ext_layer.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def make_sentence(i: int, words: int = 12, topic: str = "market") -> str:
    """A distinct, ordinary sentence (more than 5 word tokens)."""
    fillers = ["river", "council", "budget", "season", "engine", "letter", "garden", "station", "report", "winter"]
    body = " ".join(fillers[(i * 7 + j * 3) % len(fillers)] for j in range(words - 4))
    return f"Item {i} about the {topic} {body}."


def make_doc(n: int, words: int = 12, topic: str = "market") -> list[str]:
    return [make_sentence(i, words, topic) for i in range(n)]


TOPICS = ["council", "harbour", "railway", "museum", "hospital", "festival", "airport", "library", "stadium", "market"]
VERBS = ["approved", "delayed", "funded", "opened", "criticised", "expanded", "inspected", "closed"]


def generated_article(i: int) -> dict:
    """A CNN/DM-shaped record of 9 sentences whose highlights are sentences 2 and 5 (ids doc-i)."""
    topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i + 3) % len(TOPICS)]
    sentences = [
        f"Officials in district {i} {VERBS[(i + j) % len(VERBS)]} the {topic} plan number {i * 11 + j}"
        f" on day {j + 1} this week."
        if j % 2 == 0
        else f"Residents near the {other} said on day {j + 1} that report {i}-{j} changed little for families there."
        for j in range(9)
    ]
    return {"id": f"doc-{i}", "article": " ".join(sentences), "highlights": "\n".join([sentences[2], sentences[5]])}


def write_jsonl(path: Path, records: list[dict]) -> str:
    """Records as gzipped JSONL at `path`; returns the path as a string."""
    with gzip.open(path, "wt") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return str(path)
