"""Prepared documents -> padded tensors for `ExtSummarizer.forward` (training and the inference engine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from docsum.bertsum.preprocess import PreparedDoc, Window


@dataclass
class TensorBatch:
    input_ids: torch.Tensor  # (W, L)
    token_type_ids: torch.Tensor  # (W, L)
    attention_mask: torch.Tensor  # (W, L)
    sent_index: torch.Tensor  # (D, S) flat index into W*L of each sentence's [CLS]
    sent_mask: torch.Tensor  # (D, S) bool

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TensorBatch:
        return TensorBatch(*(t.to(device, non_blocking=non_blocking) for t in self.as_tuple()))

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        return (self.input_ids, self.token_type_ids, self.attention_mask, self.sent_index, self.sent_mask)

    def pin_memory(self) -> TensorBatch:
        return TensorBatch(*(t.pin_memory() for t in self.as_tuple()))


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= n."""
    return -(-n // multiple) * multiple


def pad_windows(windows: list[Window], pad_id: int, multiple: int = 8) -> tuple[torch.Tensor, ...]:
    """Right-pad windows to the longest, rounded up to a multiple of 8 (tensor-core friendly shapes)."""
    # Filled in numpy, then shared with torch without a copy: one small torch op per window costs more than the
    # whole batch (torch's per-call overhead), and this runs for every batch on the worker's critical path.
    lengths = np.fromiter((len(w.input_ids) for w in windows), dtype=np.int64, count=len(windows))
    length = round_up(int(lengths.max()), multiple)
    mask = np.arange(length) < lengths[:, None]
    ids = np.full((len(windows), length), pad_id, dtype=np.int64)
    segs = np.zeros((len(windows), length), dtype=np.int64)
    ids[mask] = np.concatenate([w.input_ids for w in windows])
    segs[mask] = np.concatenate([w.token_type_ids for w in windows])
    return torch.from_numpy(ids), torch.from_numpy(segs), torch.from_numpy(mask.astype(np.int64))


def collate(docs: list[PreparedDoc], pad_id: int, multiple: int = 8) -> TensorBatch:
    """All windows of all documents in one encoder batch; each document's sentences gathered across its windows."""
    windows = [w for d in docs for w in d.windows]
    if not windows:
        raise ValueError("collate needs at least one document with a usable sentence")
    ids, segs, mask = pad_windows(windows, pad_id, multiple)
    length = ids.size(1)
    n_sents = max(1, max(len(d.kept) for d in docs))
    sent_index = torch.zeros((len(docs), n_sents), dtype=torch.long)
    sent_mask = torch.zeros((len(docs), n_sents), dtype=torch.bool)
    w = 0
    for di, d in enumerate(docs):
        flat = [(w + wi) * length + p for wi, win in enumerate(d.windows) for p in win.cls_positions]
        sent_index[di, : len(flat)] = torch.tensor(flat, dtype=torch.long)
        sent_mask[di, : len(flat)] = True
        w += len(d.windows)
    return TensorBatch(ids, segs, mask, sent_index, sent_mask)
