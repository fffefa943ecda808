"""BertSumExt (Liu 2019; Liu & Lapata 2019): extractive summarization with a BERT encoder, usable on its own."""

from docsum.bertsum.config import BertSumConfig
from docsum.bertsum.model import ExtSummarizer

__all__ = ["BertSumConfig", "ExtSummarizer"]
