"""Sentences -> encoder windows, as PreSumm's BertData does it, plus long-document windows.

A document becomes `[CLS] s1 [SEP] [CLS] s2 [SEP] ...` with segment ids alternating 0,1,0,1 per sentence and
`cls_positions` marking each sentence's [CLS]. Two modes:
- "truncate": exactly PreSumm. One sequence cut at `max_pos` tokens (the last kept token replaced by [SEP]);
  sentences whose [CLS] falls beyond are dropped.
- "windows": whole sentences packed greedily into windows of at most `max_pos` tokens, so any length is read.
  Each window starts a new 0,1,0,1 segment alternation, so every window looks like a PreSumm input.

Tokenizing is most of the CPU cost of preparing a document, so it can be done ahead, once per document (ingest
does it): `tokenize_sentences` gives each sentence's word count and token ids under a `tokenizer_fingerprint`, and
`prepare` uses them when the fingerprint is the model's, instead of tokenizing again.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import TYPE_CHECKING

import numpy as np

from docsum.bertsum.config import BertSumConfig

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase

# PreSumm counts CoreNLP (PTB) tokens; words and single punctuation marks are the same idea.
WORD_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class Window:
    input_ids: list[int]
    token_type_ids: list[int]
    cls_positions: list[int]  # position of each sentence's [CLS] inside this window


@dataclass
class PreparedDoc:
    n_sentences: int  # sentences given by the caller
    kept: list[int] = field(default_factory=list)  # caller's index of each model sentence, in model order
    windows: list[Window] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return sum(len(w.input_ids) for w in self.windows)


def _clip_words(sentence: str, max_words: int) -> str:
    """Cut a sentence after `max_words` word tokens, keeping the original spacing of what remains."""
    matches = list(WORD_TOKEN.finditer(sentence))
    if len(matches) <= max_words:
        return sentence
    return sentence[: matches[max_words - 1].end()]


def select_sentences(sentences: list[str], config: BertSumConfig) -> tuple[list[int], list[str]]:
    """PreSumm's sentence filter: drop sentences of <= min_sent_tokens words, cut each at max_sent_tokens words."""
    kept, texts = [], []
    for i, sentence in enumerate(sentences):
        if len(WORD_TOKEN.findall(sentence)) > config.min_sent_tokens:
            kept.append(i)
            texts.append(_clip_words(sentence, config.max_sent_tokens))
    return kept, texts


# The stored form of SentenceTokens: little-endian int32 throughout, so that reading a document's tokens back is one
# numpy view instead of a JSON parse (a summarize worker reads hundreds per second). Layout:
# [format, n] [words x n] [lengths x n] [token ids, all sentences in order].
TOKENS_FORMAT = 1
_INT32 = np.dtype("<i4")


@dataclass(frozen=True)
class SentenceTokens:
    """A document's sentences tokenized ahead: word counts (PreSumm's length filter) and the token ids of each
    sentence cut at `max_sent_tokens` words, valid for the tokenizer and cut named by `fingerprint`."""

    fingerprint: str
    words: list[int]
    ids: list[list[int]]

    def to_bytes(self) -> bytes:
        """The words and ids in the stored form (the fingerprint is stored beside them)."""
        n = len(self.words)
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} token lists for {n} sentences")
        head = np.array([TOKENS_FORMAT, n, *self.words, *(len(piece) for piece in self.ids)], dtype=_INT32)
        return head.tobytes() + np.fromiter(chain.from_iterable(self.ids), dtype=_INT32).tobytes()

    @staticmethod
    def count(data: bytes) -> int:
        """How many sentences stored tokens hold, from the header alone."""
        if len(data) < 8:
            raise ValueError(f"stored tokens are {len(data)} bytes: not int32 records")
        return int.from_bytes(bytes(data[4:8]), "little", signed=True)

    @classmethod
    def from_bytes(cls, fingerprint: str, data: bytes, only: Sequence[int] | None = None) -> SentenceTokens:
        """Read back what `to_bytes` stored (with `only`, just those sentences, in that order); ValueError if it is
        not that layout (a damaged or foreign value). Plain Python lists from one memory view: for a few hundred
        integers that is several times faster than numpy's per-call cost, and this runs for every document a
        worker reads."""
        if len(data) % 4 or len(data) < 8:
            raise ValueError(f"stored tokens are {len(data)} bytes: not int32 records")
        values = memoryview(data).cast("i")
        if sys.byteorder != "little":  # the stored form is little-endian
            values = memoryview(np.frombuffer(data, dtype=_INT32).astype("=i4").tobytes()).cast("i")
        version, n = values[0], values[1]
        if version != TOKENS_FORMAT or n < 0 or len(values) < 2 + 2 * n:
            raise ValueError(f"stored tokens: format {version} with {n} sentences is not readable here")
        words = values[2 : 2 + n].tolist()
        lengths = values[2 + n : 2 + 2 * n].tolist()
        ids = values[2 + 2 * n :].tolist()
        ends = list(accumulate(lengths))
        if (ends[-1] if ends else 0) != len(ids) or any(length < 0 for length in lengths):
            raise ValueError("stored tokens: sentence lengths do not add up to the ids stored")
        starts = [end - length for end, length in zip(ends, lengths, strict=True)]
        if only is None:
            return cls(fingerprint, words, [ids[a:b] for a, b in zip(starts, ends, strict=True)])
        return cls(fingerprint, [words[i] for i in only], [ids[starts[i] : ends[i]] for i in only])


def backend_of(tokenizer: PreTrainedTokenizerBase | Tokenizer) -> Tokenizer:
    """The Rust tokenizer behind a transformers fast tokenizer (or the tokenizer itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase | Tokenizer, config: BertSumConfig) -> str:
    """Names what decides the ids `tokenize_sentences` stores: the normalizer, pre-tokenizer, vocabulary and added
    tokens (not the truncation or padding a tokenizer file may carry), and the word cut."""
    state = json.loads(backend_of(tokenizer).to_str())
    key = {name: state.get(name) for name in ("normalizer", "pre_tokenizer", "model", "added_tokens")}
    key["max_sent_tokens"] = config.max_sent_tokens
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def encoder_for(tokenizer: PreTrainedTokenizerBase | Tokenizer) -> Callable[[list[str]], list[list[int]]]:
    """Token ids without special tokens, truncation or padding, for a batch of texts."""
    backend = backend_of(tokenizer)
    if backend.truncation is not None or backend.padding is not None:
        backend = type(backend).from_str(backend.to_str())
        backend.no_truncation()
        backend.no_padding()

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)] if texts else []

    return encode


def tokenize_sentences(
    docs: Sequence[Sequence[str]], encode: Callable[[list[str]], list[list[int]]], fingerprint: str, max_words: int
) -> list[SentenceTokens]:
    """Tokenize every sentence of many documents in one call (the Rust tokenizer spreads a batch over cores)."""
    words = [[len(WORD_TOKEN.findall(s)) for s in doc] for doc in docs]
    flat = encode([_clip_words(s, max_words) for doc in docs for s in doc])
    out, start = [], 0
    for doc, counts in zip(docs, words, strict=True):
        out.append(SentenceTokens(fingerprint, counts, flat[start : start + len(doc)]))
        start += len(doc)
    return out


def _segments(n_tokens_per_sentence: list[int], use_interval: bool) -> list[int]:
    segs: list[int] = []
    for i, n in enumerate(n_tokens_per_sentence):
        segs += [i % 2 if use_interval else 0] * n
    return segs


def prepare(
    sentences: list[str],
    tokenizer: PreTrainedTokenizerBase,
    config: BertSumConfig,
    tokens: SentenceTokens | None = None,
) -> PreparedDoc:
    """Turn one document's sentences into encoder windows; `tokens`, when given, must be under this tokenizer's and
    config's fingerprint (the caller checks it) and saves tokenizing."""
    if tokens is None:
        kept, texts = select_sentences(sentences, config)
        # The fast tokenizer lowercases for uncased encoders (do_lower_case), as PreSumm's BertTokenizer did.
        pieces = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    else:
        kept = [i for i, n in enumerate(tokens.words) if n > config.min_sent_tokens]
        pieces = [tokens.ids[i] for i in kept]
    return pack(len(sentences), kept, pieces, tokenizer.cls_token_id, tokenizer.sep_token_id, config)


def pack(
    n_sentences: int, kept: list[int], pieces: list[list[int]], cls_id: int, sep_id: int, config: BertSumConfig
) -> PreparedDoc:
    """Selected sentences' token ids -> windows (`kept`: each piece's sentence index in the document)."""
    doc = PreparedDoc(n_sentences=n_sentences)
    limit = config.max_sents if config.long_mode == "truncate" else config.max_sents_long
    kept, pieces = kept[:limit], pieces[:limit]
    if not pieces:
        return doc
    # A single sentence can never be longer than a window.
    sent_ids = [[cls_id, *p[: config.max_pos - 2], sep_id] for p in pieces]

    if config.long_mode == "truncate":
        ids = list(chain.from_iterable(sent_ids))
        segs = _segments([len(s) for s in sent_ids], config.use_interval)
        if len(ids) > config.max_pos:  # PreSumm: src[:-1][:max_pos-1] + [SEP]
            ids = ids[: config.max_pos - 1] + [sep_id]
            segs = segs[: config.max_pos]
        cls_positions, start = [], 0
        for s in sent_ids:
            if start >= config.max_pos:
                break
            cls_positions.append(start)
            start += len(s)
        doc.kept = kept[: len(cls_positions)]
        doc.windows = [Window(ids, segs, cls_positions)]
        return doc

    doc.kept = kept
    current: list[list[int]] = []
    size = 0
    for s in [*sent_ids, None]:  # None flushes the last window
        if s is None or (current and size + len(s) > config.max_pos):
            ids = list(chain.from_iterable(current))  # C-level: this runs for every token a worker packs
            positions = [0]
            for c in current[:-1]:
                positions.append(positions[-1] + len(c))
            doc.windows.append(Window(ids, _segments([len(c) for c in current], config.use_interval), positions))
            current, size = [], 0
        if s is not None:
            current.append(s)
            size += len(s)
    return doc
