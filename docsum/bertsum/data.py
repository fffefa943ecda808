"""Summarization datasets as JSONL(.gz) records with `article` and `highlights`, read from ../shared/data at run time.

The caller passes the sentence splitter (`Splitter`): docsum passes ingest's, so that training and evaluation see
sentences exactly as users' documents are stored.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# (article text, its title or None) -> the sentences a summarizer may pick from
Splitter = Callable[[str, "str | None"], list[str]]

# PreSumm's `clean`: PTB bracket tokens and quotes back to characters (DailyMail train/ptb files are tokenized).
_PTB_REMAP = {"-lrb-": "(", "-rrb-": ")", "-lcb-": "{", "-rcb-": "}", "-lsb-": "[", "-rsb-": "]", "``": '"', "''": '"'}
_PTB_TOKEN = re.compile("|".join(re.escape(k) for k in _PTB_REMAP), re.IGNORECASE)


def undo_ptb(text: str) -> str:
    return _PTB_TOKEN.sub(lambda m: _PTB_REMAP[m.group(0).lower()], text)


def normalized_hash(article: str) -> str:
    """Hash of the article's lowercased alphanumerics: the same story raw or PTB-tokenized hashes the same."""
    norm = re.sub(r"[^a-z0-9]", "", undo_ptb(article).lower())
    return hashlib.sha1(norm.encode()).hexdigest()


@dataclass
class Example:
    id: str
    sentences: list[str]  # article sentences, from the caller's splitter
    reference: list[str]  # highlight sentences
    article: str


def read_jsonl(path: str | Path) -> Iterator[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def to_example(record: dict, split: Splitter) -> Example:
    """CNN/DM records have `highlights`; BBC records have `summary_sentences` and a `title` that also opens the
    article (the splitter decides what to do with it, as ingest does with a document's title)."""
    article = undo_ptb(record["article"])
    highlights = record["highlights"] if "highlights" in record else record["summary_sentences"]
    reference = [undo_ptb(h).strip() for h in (highlights if isinstance(highlights, list) else highlights.split("\n"))]
    return Example(
        id=str(record.get("id", "")),
        sentences=split(article, record.get("title")),
        reference=[h for h in reference if h],
        article=record["article"],
    )


def read_records(path: str | Path) -> Iterator[dict]:
    """Usable records in file order: those marked `duplicate_of` (BBC) or without a reference are skipped."""
    for record in read_jsonl(path):
        if not record.get("duplicate_of") and (record.get("highlights") or record.get("summary_sentences")):
            yield record


def read_examples(path: str | Path, split: Splitter, limit: int | None = None) -> Iterator[Example]:
    """Examples of the usable records, in file order (sentence splitting happens here, per example)."""
    for n, record in enumerate(read_records(path)):
        if limit is not None and n >= limit:
            return
        yield to_example(record, split)
