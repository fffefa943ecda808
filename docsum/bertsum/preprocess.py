"""Sentences -> encoder windows, as PreSumm's BertData does it, plus long-document windows.

A document becomes `[CLS] s1 [SEP] [CLS] s2 [SEP] ...` with segment ids alternating 0,1,0,1 per sentence and
`cls_positions` marking each sentence's [CLS]. Two modes:
- "truncate": exactly PreSumm. One sequence cut at `max_pos` tokens (the last kept token replaced by [SEP]);
  sentences whose [CLS] falls beyond are dropped.
- "windows": whole sentences packed greedily into windows of at most `max_pos` tokens, so any length is read.
  Each window starts a new 0,1,0,1 segment alternation, so every window looks like a PreSumm input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from docsum.bertsum.config import BertSumConfig

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


def _segments(n_tokens_per_sentence: list[int], use_interval: bool) -> list[int]:
    segs: list[int] = []
    for i, n in enumerate(n_tokens_per_sentence):
        segs += [i % 2 if use_interval else 0] * n
    return segs


def prepare(sentences: list[str], tokenizer: PreTrainedTokenizerBase, config: BertSumConfig) -> PreparedDoc:
    """Turn one document's sentences into encoder windows."""
    doc = PreparedDoc(n_sentences=len(sentences))
    kept, texts = select_sentences(sentences, config)
    if config.long_mode == "truncate":
        kept, texts = kept[: config.max_sents], texts[: config.max_sents]
    else:
        kept, texts = kept[: config.max_sents_long], texts[: config.max_sents_long]
    if not texts:
        return doc
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    # The fast tokenizer lowercases for uncased encoders (do_lower_case), as PreSumm's BertTokenizer did.
    pieces = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]  # long sentences are cut below
    # A single sentence can never be longer than a window.
    sent_ids = [[cls_id] + p[: config.max_pos - 2] + [sep_id] for p in pieces]

    if config.long_mode == "truncate":
        ids = [t for s in sent_ids for t in s]
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
    for s in sent_ids + [None]:  # None flushes the last window
        if s is None or (current and sum(map(len, current)) + len(s) > config.max_pos):
            ids = [t for c in current for t in c]
            positions = [0]
            for c in current[:-1]:
                positions.append(positions[-1] + len(c))
            doc.windows.append(Window(ids, _segments([len(c) for c in current], config.use_interval), positions))
            current = []
        if s is not None:
            current.append(s)
    return doc
