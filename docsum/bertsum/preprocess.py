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
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise
from typing import TYPE_CHECKING

import numpy as np

from docsum.bertsum.config import BertSumConfig

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase

# PreSumm counts CoreNLP (PTB) tokens; words and single punctuation marks are the same idea.
WORD_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(eq=False)
class Window:
    input_ids: np.ndarray  # token ids (int32 when packed from stored tokens)
    token_type_ids: np.ndarray  # int64
    cls_positions: list[int]  # position of each sentence's [CLS] inside this window

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Window)
            and np.array_equal(self.input_ids, other.input_ids)
            and np.array_equal(self.token_type_ids, other.token_type_ids)
            and self.cls_positions == other.cls_positions
        )


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


class SentenceTokens:
    """A document's sentences tokenized ahead: word counts (PreSumm's length filter) and the token ids of each
    sentence cut at `max_sent_tokens` words, valid for the tokenizer and cut named by `fingerprint`.

    Kept as one flat int32 array with each sentence's start and length, not a list per sentence: a worker reads
    hundreds of documents a second from their stored bytes, and packing windows then copies whole runs of ids at
    C speed instead of one Python int at a time."""

    __slots__ = ("_flat", "_lengths", "_starts", "fingerprint", "words")

    def __init__(self, fingerprint: str, words: Sequence[int], ids: Sequence[Sequence[int]]) -> None:
        if len(ids) != len(words):
            raise ValueError(f"{len(ids)} token lists for {len(words)} sentences")
        self._set(fingerprint, list(words), *_ragged(ids))

    def _set(self, fingerprint: str, words: list[int], flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
        self.fingerprint, self.words = fingerprint, words
        self._flat, self._starts, self._lengths = flat, starts, lengths

    @classmethod
    def _of(cls, fingerprint: str, words: list[int], flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
        tokens = cls.__new__(cls)
        tokens._set(fingerprint, words, flat, starts, lengths)
        return tokens

    @property
    def ids(self) -> list[list[int]]:
        """Each sentence's token ids, as lists."""
        return [self._flat[a : a + n].tolist() for a, n in zip(self._starts.tolist(), self._lengths.tolist())]

    def ragged(self, sentences: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat ids, starts, lengths) of these sentences, for `pack`; no ids are copied."""
        index = np.asarray(sentences, dtype=np.int64)
        return self._flat, self._starts[index], self._lengths[index]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SentenceTokens)
            and (self.fingerprint, self.words) == (other.fingerprint, other.words)
            and np.array_equal(self._lengths, other._lengths)
            and np.array_equal(self._all_ids(), other._all_ids())
        )

    def _all_ids(self) -> np.ndarray:
        """Every sentence's ids, one after another."""
        return _gather(self._flat, self._starts, self._lengths)

    def __repr__(self) -> str:
        return f"SentenceTokens({self.fingerprint!r}, {self.words!r}, {self.ids!r})"

    def to_bytes(self) -> bytes:
        """The words and ids in the stored form (the fingerprint is stored beside them)."""
        n = len(self.words)
        head = np.concatenate([[TOKENS_FORMAT, n], self.words, self._lengths]).astype(_INT32)
        return head.tobytes() + self._all_ids().astype(_INT32).tobytes()

    @staticmethod
    def count(data: bytes) -> int:
        """How many sentences stored tokens hold, from the header alone."""
        if len(data) < 8:
            raise ValueError(f"stored tokens are {len(data)} bytes: not int32 records")
        return int.from_bytes(bytes(data[4:8]), "little", signed=True)

    @classmethod
    def from_bytes(cls, fingerprint: str, data: bytes, only: Sequence[int] | None = None) -> SentenceTokens:
        """Read back what `to_bytes` stored (with `only`, just those sentences, in that order); ValueError if it is
        not that layout (a damaged or foreign value). The ids stay a view of `data`."""
        if len(data) % 4 or len(data) < 8:
            raise ValueError(f"stored tokens are {len(data)} bytes: not int32 records")
        values = np.frombuffer(data, dtype=_INT32)
        version, n = int(values[0]), int(values[1])
        if version != TOKENS_FORMAT or n < 0 or len(values) < 2 + 2 * n:
            raise ValueError(f"stored tokens: format {version} with {n} sentences is not readable here")
        words = values[2 : 2 + n]
        lengths = values[2 + n : 2 + 2 * n].astype(np.int64)
        flat = values[2 + 2 * n :]
        if int(lengths.sum()) != len(flat) or (n and int(lengths.min()) < 0):
            raise ValueError("stored tokens: sentence lengths do not add up to the ids stored")
        starts = np.cumsum(lengths) - lengths
        if only is None:
            return cls._of(fingerprint, words.tolist(), flat, starts, lengths)
        index = np.asarray(only, dtype=np.int64)
        return cls._of(fingerprint, words[index].tolist(), flat, starts[index], lengths[index])


def _ragged(pieces: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token id lists as (flat int32 ids, starts, lengths)."""
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    flat = np.fromiter(chain.from_iterable(pieces), dtype=_INT32, count=int(lengths.sum()))
    return flat, np.cumsum(lengths) - lengths, lengths


def _gather(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The runs flat[start : start + length], one after another, in one vectorized copy."""
    total = int(lengths.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return flat[np.repeat(starts, lengths) + within]


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
        flat, starts, lengths = _ragged(pieces)
    else:
        kept = [i for i, n in enumerate(tokens.words) if n > config.min_sent_tokens]
        flat, starts, lengths = tokens.ragged(kept)
    cls_id, sep_id = _special_ids(tokenizer)
    return pack(len(sentences), kept, flat, starts, lengths, cls_id, sep_id, config)


_SPECIAL_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """[CLS] and [SEP] ids, looked up once per tokenizer (a transformers tokenizer's attribute lookup costs more than
    packing a short document)."""
    try:
        return _SPECIAL_IDS[tokenizer]
    except (KeyError, TypeError):
        ids = (tokenizer.cls_token_id, tokenizer.sep_token_id)
        try:
            _SPECIAL_IDS[tokenizer] = ids
        except TypeError:  # not weakly referenceable: looked up each time
            pass
        return ids


def pack(
    n_sentences: int,
    kept: list[int],
    flat: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    cls_id: int,
    sep_id: int,
    config: BertSumConfig,
) -> PreparedDoc:
    """Selected sentences' token ids -> windows. Sentence j (document index kept[j]) is flat[starts[j] : starts[j] +
    lengths[j]]. The document's `[CLS] s [SEP]` sequence is built in one vectorized pass; windows are views of it."""
    doc = PreparedDoc(n_sentences=n_sentences)
    limit = config.max_sents if config.long_mode == "truncate" else config.max_sents_long
    kept, starts, lengths = kept[:limit], starts[:limit], lengths[:limit]
    if not kept:
        return doc
    clipped = np.minimum(lengths, config.max_pos - 2)  # a single sentence can never be longer than a window
    sizes = clipped + 2
    ends = np.cumsum(sizes)
    begins = ends - sizes
    # Output position p of sentence j holds flat[p + starts[j] - begins[j] - 1]: one gather for every token (the
    # [CLS] and [SEP] places read a neighbour, clipped at the ends, and are then overwritten).
    total = int(ends[-1])
    ids = np.take(flat, np.arange(total) + np.repeat(starts - begins - 1, sizes), mode="clip")
    ids[begins] = cls_id
    ids[ends - 1] = sep_id
    sizes_list, begins_list = sizes.tolist(), begins.tolist()

    if config.long_mode == "truncate":
        parity = [j % 2 for j in range(len(kept))]
        if len(ids) > config.max_pos:  # PreSumm: src[:-1][:max_pos-1] + [SEP]
            ids = ids[: config.max_pos].copy()
            ids[-1] = sep_id
        cls_positions = [b for b in begins_list if b < config.max_pos]
        doc.kept = kept[: len(cls_positions)]
        doc.windows = [Window(ids, _segments(parity, sizes, config)[: config.max_pos], cls_positions)]
        return doc

    # Whole sentences packed greedily; each window starts its own 0,1,0,1 alternation.
    firsts, parity, size = [0], [], 0
    for j, n in enumerate(sizes_list):
        if size and size + n > config.max_pos:
            firsts.append(j)
            size = 0
        parity.append((j - firsts[-1]) % 2)
        size += n
    segs = _segments(parity, sizes, config)
    doc.kept = kept
    for a, b in pairwise([*firsts, len(kept)]):
        lo, hi = begins_list[a], begins_list[b - 1] + sizes_list[b - 1]
        doc.windows.append(Window(ids[lo:hi], segs[lo:hi], [p - lo for p in begins_list[a:b]]))
    return doc


def _segments(parity: list[int], sizes: np.ndarray, config: BertSumConfig) -> np.ndarray:
    """Segment id of every token: its sentence's parity in the window (interval segments), or 0 throughout."""
    if not config.use_interval:
        return np.zeros(int(sizes.sum()), dtype=np.int64)
    return np.repeat(np.array(parity, dtype=np.int64), sizes)
