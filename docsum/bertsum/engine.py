"""Batched inference: many documents -> sentence scores and summaries, with token-budget encoder batches.

The pipeline, per buffer of documents (a buffer holds about `buffer_batches` encoder batches' worth of tokens):
1. prepare each document on the CPU (tokenize, pack into windows: bertsum.preprocess);
2. sort every window of every document in the buffer by length and pack encoder batches by a padded-token budget
   (count x longest-rounded-up-to-8 <= max_batch_tokens), as PreSumm and text-embeddings-inference batch, and
   at most `max_padding` padding per batch (matters only where lengths are sparse, i.e. few documents);
3. run the encoder per batch and keep each window's [CLS] vectors;
4. gather each document's sentence vectors across its windows, in order, and run the inter-sentence head over
   groups of documents of similar sentence count (bounded padding); sigmoid; map back to input sentence indices.
Steps 1-2 for the next batch run in a background thread while the device works on the current one (CUDA only:
on the CPU the thread would just compete with the encoder for cores). The encoder runs under bf16 autocast where
the device multiplies bf16 natively (CUDA; CPUs with AMX or AVX512-BF16: bertsum.precision), in fp32 elsewhere; on
CUDA from pinned host memory. The head always runs in fp32 (it is cheap, and bf16 there flips near ties). A CUDA
out-of-memory error halves the batch and carries on (counted in `stats`).
Padding is masked everywhere, so scores equal scoring each document alone (up to floating-point rounding).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from docsum.bertsum.batching import pad_windows, round_up
from docsum.bertsum.precision import compute_dtype, dtype_name
from docsum.bertsum.preprocess import (
    PreparedDoc,
    SentenceTokens,
    encoder_for,
    prepare,
    tokenize_sentences,
    tokenizer_fingerprint,
)
from docsum.bertsum.select import select_summary

if TYPE_CHECKING:
    from docsum.bertsum.model import ExtSummarizer

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class Summary:
    indices: list[int]  # selected sentences, document order
    scores: list[float]  # their scores, same order
    text: str  # the selected sentences joined by a space


@dataclass
class EngineStats:
    documents: int = 0
    windows: int = 0
    batches: int = 0  # encoder batches actually run (an OOM split adds one)
    ext_groups: int = 0  # inter-sentence head calls
    head_sentences: int = 0  # sentences the head scored
    head_slots: int = 0  # sentence slots it computed, padding included
    real_tokens: int = 0  # tokens of the windows themselves
    padded_tokens: int = 0  # tokens computed by the encoder, padding included
    oom_splits: int = 0  # batches halved after a CUDA out-of-memory error
    prepare_s: float = 0.0  # CPU time making batches: tokenizing (unless done ahead), windows, packing, tensors
    # Time in the encoder calls and in the head (scores back to the documents included). On CUDA the host does not
    # wait for the encoder's kernels, so its time shows up in the head's, at the copy of the scores to the host.
    encode_s: float = 0.0
    head_s: float = 0.0
    dtype: str = ""  # what the model computed in: "bf16" or "fp32" (set on the first call)

    @property
    def padding_waste(self) -> float:
        """Share of computed encoder tokens that were padding."""
        return 1.0 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0

    def as_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "padding_waste": self.padding_waste}


@dataclass
class _EncoderBatch:
    keys: list[tuple[int, int]]  # (document slot in the buffer, window index) per row
    input_ids: torch.Tensor  # (W, L)
    token_type_ids: torch.Tensor  # (W, L)
    attention_mask: torch.Tensor  # (W, L)
    cls_rows: torch.Tensor  # (C,) row of each [CLS] to keep, rows ascending
    cls_cols: torch.Tensor  # (C,) its position in the row
    cls_counts: list[int]  # [CLS] per row
    real_tokens: int


@dataclass
class _BufferDone:
    docs: list[tuple[int, PreparedDoc]]  # (caller's document index, prepared document)


@dataclass
class _Failed:
    error: BaseException


_END = object()


# Fits a CPU's caches and a small GPU; GPU workers raise it (bench/inference.py measures the effect).
DEFAULT_MAX_BATCH_TOKENS = 8192
# Documents tokenized per call: one call over many sentences lets the Rust tokenizer use every core.
PREPARE_GROUP = 64


@dataclass(eq=False)
class InferenceEngine:
    model: ExtSummarizer = field(repr=False)
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS  # padded-token budget per encoder batch (count x longest)
    max_group_sentences: int = 8192  # padded sentence slots per head call (documents x most sentences)
    max_padding: float = 0.1  # a batch is also closed before a window that would make it more than 10% padding
    max_head_padding: float = 0.1  # and a head group before a document that would make it more than 10% padding
    buffer_batches: int = 16  # documents are prepared and length-sorted in buffers of this many batches' tokens
    prefetch: bool | None = None  # prepare the next batch in a thread; None: on CUDA only
    # "auto": bf16 where the device multiplies it natively (CUDA since Ampere; CPUs with AMX or AVX512-BF16), else
    # fp32; "bf16"/"fp32" (or a torch dtype) force one; None: fp32.
    amp_dtype: torch.dtype | str | None = "auto"
    stats: EngineStats = field(default_factory=EngineStats)

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 8:
            raise ValueError(f"max_batch_tokens must be >= 8, got {self.max_batch_tokens}")

    # ---- public ------------------------------------------------------------------------------------------------
    def score(
        self, docs: Iterable[Sequence[str]], tokens: Sequence[SentenceTokens | None] | None = None
    ) -> list[list[float]]:
        """One probability per input sentence; 0.0 for sentences preprocessing dropped. `tokens`: per document, its
        sentences tokenized ahead (used where the fingerprint is this model's; None or stale ones are redone)."""
        return self._score(_as_docs(docs), tokens)[0]

    def summarize(
        self,
        docs: Iterable[Sequence[str]],
        k: int = 3,
        block_trigrams: bool = True,
        max_words: int | None = None,
        tokens: Sequence[SentenceTokens | None] | None = None,
    ) -> list[Summary]:
        docs = _as_docs(docs)
        scores, usable = self._score(docs, tokens)
        summaries = []
        for sentences, doc_scores, doc_usable in zip(docs, scores, usable):
            indices = select_summary(sentences, doc_scores, k, block_trigrams, max_words, eligible=doc_usable)
            summaries.append(
                Summary(indices, [doc_scores[i] for i in indices], " ".join(sentences[i].strip() for i in indices))
            )
        return summaries

    def reset_stats(self) -> None:
        self.stats = EngineStats()

    # ---- scoring -----------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """The autocast dtype this engine runs in on its model's device (None: fp32)."""
        dtype = self.amp_dtype
        if dtype is None or isinstance(dtype, str):
            return compute_dtype(self.device, dtype or "fp32")
        return None if dtype == torch.float32 else dtype

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.compute_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    @cached_property
    def fingerprint(self) -> str:
        """The fingerprint under which tokens computed ahead are this model's (see preprocess)."""
        return tokenizer_fingerprint(self.model.tokenizer, self.model.config)

    @cached_property
    def _encode_texts(self):
        return encoder_for(self.model.tokenizer)

    def _score(
        self, docs: list[list[str]], tokens: Sequence[SentenceTokens | None] | None = None
    ) -> tuple[list[list[float]], list[list[bool]]]:
        if tokens is not None and len(tokens) != len(docs):
            raise ValueError(f"{len(tokens)} token entries for {len(docs)} documents")
        scores = [[0.0] * len(d) for d in docs]
        usable = [[False] * len(d) for d in docs]
        self.stats.dtype = dtype_name(self.compute_dtype)
        was_training = self.model.training
        if was_training:  # dropout off: inference is deterministic even if called mid-training
            self.model.eval()  # (only then: eval() walks every module, a cost on each call of a serving loop)
        try:
            # One autocast region for the whole call: autocast keeps the bf16 copies it makes of the weights until
            # its outermost region exits, but never under inference_mode, where it casts every weight again for each
            # batch. So bf16 runs under no_grad, fp32 (no casts) under the leaner inference_mode.
            no_grad = torch.no_grad() if self.compute_dtype is not None else torch.inference_mode()
            with no_grad, self.autocast():
                vectors: dict[tuple[int, int], torch.Tensor] = {}
                for item in self._items(docs, tokens):
                    began = time.perf_counter()
                    if isinstance(item, _EncoderBatch):
                        cls = self._encode(item)
                        for key, chunk in zip(item.keys, cls.split(item.cls_counts)):
                            vectors[key] = chunk
                        self.stats.encode_s += time.perf_counter() - began
                    else:
                        self._score_buffer(item.docs, vectors, scores, usable)
                        vectors.clear()
                        self.stats.head_s += time.perf_counter() - began
        finally:
            if was_training:
                self.model.train()
        return scores, usable

    def _encode(self, batch: _EncoderBatch) -> torch.Tensor:
        """[CLS] vectors (C, H) of one encoder batch, on the device."""
        dev = self.device
        pinned = dev.type == "cuda"
        tensors = [
            t.to(dev, non_blocking=pinned)
            for t in (batch.input_ids, batch.token_type_ids, batch.attention_mask, batch.cls_rows, batch.cls_cols)
        ]
        self.stats.real_tokens += batch.real_tokens
        return self._encode_or_split(*tensors)

    def _encode_or_split(
        self, ids: torch.Tensor, segs: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        out_of_memory = False
        try:
            hidden = self.model.encode_windows(ids, segs, mask)  # (W, L, H), under _score's autocast
            self.stats.batches += 1
            self.stats.padded_tokens += ids.numel()
            return hidden[rows, cols]
        except torch.OutOfMemoryError:
            if ids.size(0) == 1:
                raise
            out_of_memory = True  # split outside the handler, so the failed attempt's tensors are freed first
        assert out_of_memory
        self.stats.oom_splits += 1
        log.warning("CUDA out of memory on an encoder batch of %d x %d tokens: halving it", ids.size(0), ids.size(1))
        if ids.is_cuda:
            torch.cuda.empty_cache()
        half = ids.size(0) // 2
        cut = int((rows < half).sum())
        # The first half holds the shorter windows (rows are length-sorted): trim its padding too.
        length = min(ids.size(1), round_up(int(mask[:half].sum(1).max()), self._pad_multiple))
        first = self._encode_or_split(
            ids[:half, :length], segs[:half, :length], mask[:half, :length], rows[:cut], cols[:cut]
        )
        second = self._encode_or_split(ids[half:], segs[half:], mask[half:], rows[cut:] - half, cols[cut:])
        return torch.cat([first, second])

    def _score_buffer(
        self,
        docs: list[tuple[int, PreparedDoc]],
        vectors: dict[tuple[int, int], torch.Tensor],
        scores: list[list[float]],
        usable: list[list[bool]],
    ) -> None:
        """Run the inter-sentence head over the buffer's documents, in groups of similar sentence count."""
        sents = {
            slot: torch.cat([vectors[(slot, w)] for w in range(len(doc.windows))])
            for slot, (_, doc) in enumerate(docs)
            if doc.windows
        }
        order = sorted(sents, key=lambda slot: sents[slot].size(0))
        # The padding cap matters as much as in the encoder: the head runs in fp32, and one group of a buffer's
        # documents padded to the longest computed five slots per real sentence on a mixed stream.
        counts = [sents[slot].size(0) for slot in order]
        for group in _capped_groups(order, counts, self.max_group_sentences, self.max_head_padding):
            self._score_group([sents[s] for s in group], [docs[s] for s in group], scores, usable)

    def _score_group(
        self,
        group: list[torch.Tensor],
        docs: list[tuple[int, PreparedDoc]],
        scores: list[list[float]],
        usable: list[list[bool]],
    ) -> None:
        longest = max(v.size(0) for v in group)
        first = group[0]
        # The head runs in fp32 whatever the encoder ran in: it is a small share of the work, and in bf16 it turned
        # near ties into different picks (1% of validation documents; none with the head in fp32).
        sents = first.new_zeros((len(group), longest, first.size(1)), dtype=torch.float32)  # (D, S, H)
        mask = torch.zeros((len(group), longest), dtype=torch.bool, device=first.device)
        for i, v in enumerate(group):
            sents[i, : v.size(0)] = v
            mask[i, : v.size(0)] = True
        # Autocast off inside _score's region: the weights it has cast stay cached (only the outermost exit clears).
        with torch.autocast(self.device.type, enabled=False):
            logits = self.model.ext_layer(sents, mask)  # (D, S)
        probs = (torch.sigmoid(logits.float()) * mask).cpu().tolist()
        self.stats.ext_groups += 1
        self.stats.head_sentences += sum(v.size(0) for v in group)
        self.stats.head_slots += len(group) * longest
        for (doc_index, doc), p in zip(docs, probs):
            for j, sentence_index in enumerate(doc.kept):
                scores[doc_index][sentence_index] = p[j]
                usable[doc_index][sentence_index] = True

    # ---- batch production (CPU; a background thread on CUDA) ---------------------------------------------------
    @property
    def _pad_multiple(self) -> int:
        """Lengths rounded up to 8 suit GPU tensor cores; on the CPU rounding is only padding."""
        return 8 if self.device.type == "cuda" else 1

    def _items(
        self, docs: list[list[str]], tokens: Sequence[SentenceTokens | None] | None
    ) -> Iterator[_EncoderBatch | _BufferDone]:
        produced = self._produce(docs, tokens)
        prefetch = self.prefetch if self.prefetch is not None else self.device.type == "cuda"
        if not prefetch:
            yield from produced
            return
        items: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def run() -> None:
            try:
                for item in produced:
                    if not put(item):
                        return
                put(_END)
            except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
                put(_Failed(error))

        thread = threading.Thread(target=run, name="bertsum-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = items.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            stop.set()
            thread.join()

    def _tokens(self, docs: list[list[str]], given: Sequence[SentenceTokens | None]) -> list[SentenceTokens]:
        """Tokens for each document: those given under this model's fingerprint, the rest tokenized in one call."""
        fingerprint = self.fingerprint
        out = [
            t if t is not None and t.fingerprint == fingerprint and len(t.words) == len(d) else None
            for d, t in zip(docs, given, strict=True)
        ]
        missing = [i for i, t in enumerate(out) if t is None]
        if missing:
            fresh = tokenize_sentences(
                [docs[i] for i in missing], self._encode_texts, fingerprint, self.model.config.max_sent_tokens
            )
            for i, t in zip(missing, fresh, strict=True):
                out[i] = t
        return out  # type: ignore[return-value]

    def _produce(
        self, docs: list[list[str]], tokens: Sequence[SentenceTokens | None] | None
    ) -> Iterator[_EncoderBatch | _BufferDone]:
        buffer_tokens = self.buffer_batches * self.max_batch_tokens
        buffer: list[tuple[int, PreparedDoc]] = []
        n_tokens = 0
        for start in range(0, len(docs), PREPARE_GROUP):
            began = time.perf_counter()
            group = docs[start : start + PREPARE_GROUP]
            given = tokens[start : start + PREPARE_GROUP] if tokens is not None else [None] * len(group)
            for offset, (sentences, doc_tokens) in enumerate(zip(group, self._tokens(group, given), strict=True)):
                doc = prepare(sentences, self.model.tokenizer, self.model.config, doc_tokens)
                buffer.append((start + offset, doc))
                n_tokens += doc.n_tokens
                if n_tokens >= buffer_tokens:
                    self.stats.prepare_s += time.perf_counter() - began
                    yield from self._timed(self._buffer_batches(buffer))
                    buffer, n_tokens = [], 0
                    began = time.perf_counter()
            self.stats.prepare_s += time.perf_counter() - began
        if buffer:
            yield from self._timed(self._buffer_batches(buffer))

    def _timed(self, items: Iterator[_EncoderBatch | _BufferDone]) -> Iterator[_EncoderBatch | _BufferDone]:
        """Count the time spent making each item as preparation (not the consumer's time between items)."""
        while True:
            began = time.perf_counter()
            item = next(items, None)
            self.stats.prepare_s += time.perf_counter() - began
            if item is None:
                return
            yield item

    def _buffer_batches(self, buffer: list[tuple[int, PreparedDoc]]) -> Iterator[_EncoderBatch | _BufferDone]:
        self.stats.documents += len(buffer)
        entries = sorted(
            (len(window.input_ids), slot, w)
            for slot, (_, doc) in enumerate(buffer)
            for w, window in enumerate(doc.windows)
        )
        self.stats.windows += len(entries)
        # Where lengths are sparse (few documents), the padding cap keeps short windows out of long batches.
        lengths = [length for length, _, _ in entries]
        for batch in _capped_groups(entries, lengths, self.max_batch_tokens, self.max_padding, self._pad_multiple):
            yield self._make_batch(buffer, batch)
        yield _BufferDone(buffer)

    def _make_batch(self, buffer: list[tuple[int, PreparedDoc]], batch: list[tuple[int, int, int]]) -> _EncoderBatch:
        windows = [buffer[slot][1].windows[w] for _, slot, w in batch]
        ids, segs, mask = pad_windows(windows, self.model.tokenizer.pad_token_id, self._pad_multiple)
        counts = [len(window.cls_positions) for window in windows]
        rows = torch.from_numpy(np.repeat(np.arange(len(windows), dtype=np.int64), counts))
        cols = torch.from_numpy(np.fromiter(chain.from_iterable(w.cls_positions for w in windows), dtype=np.int64))
        tensors = [ids, segs, mask, rows, cols]
        if self.device.type == "cuda":
            tensors = [t.pin_memory() for t in tensors]
        return _EncoderBatch(
            keys=[(slot, w) for _, slot, w in batch],
            input_ids=tensors[0],
            token_type_ids=tensors[1],
            attention_mask=tensors[2],
            cls_rows=tensors[3],
            cls_cols=tensors[4],
            cls_counts=counts,
            real_tokens=sum(length for length, _, _ in batch),
        )


def _capped_groups(
    items: list[_T], lengths: list[int], budget: int, max_padding: float, multiple: int = 1
) -> Iterator[list[_T]]:
    """`items` in ascending `lengths`, in consecutive groups padded to their longest: a group closes before an item
    that would take its padded size (count x that item's length rounded up to `multiple`; ascending, the newest item
    is the longest) past `budget`, or its padding past `max_padding` of its unrounded padded size. An item longer than
    the budget is a group of its own."""
    group: list[_T] = []
    real = 0
    for item, n in zip(items, lengths, strict=True):
        count = len(group) + 1
        if group and (count * round_up(n, multiple) > budget or count * n - (real + n) > max_padding * count * n):
            yield group
            group, real = [], 0
        group.append(item)
        real += n
    if group:
        yield group


def _as_docs(docs: Iterable[Sequence[str]]) -> list[list[str]]:
    """The documents as lists (iterables are read once), with a clear error for the common mistakes: one
    document passed as a list of strings, non-string sentences."""
    if isinstance(docs, str):
        raise TypeError("docs must be a list of documents, each a list of sentence strings; got a string")
    checked = []
    for i, doc in enumerate(docs):
        if isinstance(doc, str):
            raise TypeError(f"docs[{i}] is a string: pass each document as a list of sentence strings")
        doc = list(doc)
        for j, sentence in enumerate(doc):
            if not isinstance(sentence, str):
                raise TypeError(f"docs[{i}][{j}] is {type(sentence).__name__}, not a sentence string")
        checked.append(doc)
    return checked
