"""BertSumExt (Liu 2019; Liu & Lapata 2019): extractive summarization with a BERT encoder, usable on its own.

`ExtSummarizer` and `BertSumConfig` load on first use, so that `docsum.bertsum.preprocess` (what ingest workers use to
tokenize ahead) imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.model import ExtSummarizer

__all__ = ["BertSumConfig", "ExtSummarizer"]


def __getattr__(name: str) -> Any:
    if name == "ExtSummarizer":
        from docsum.bertsum.model import ExtSummarizer

        return ExtSummarizer
    if name == "BertSumConfig":
        from docsum.bertsum.config import BertSumConfig

        return BertSumConfig
    raise AttributeError(name)
