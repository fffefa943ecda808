"""Summarization datasets as JSONL(.gz) records with `article` and `highlights`, read from ../shared/data at run time.

Articles are split with the ingest splitter, so training and evaluation see sentences exactly as users' documents do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from docsum.ingest.extract import without_leading_title
from docsum.ingest.sentences import split_sentences

# PreSumm's `clean`: PTB bracket tokens and quotes back to characters (DailyMail train/ptb files are tokenized).
_PTB_REMAP = {"-lrb-": "(", "-rrb-": ")", "-lcb-": "{", "-rcb-": "}", "-lsb-": "[", "-rsb-": "]", "``": '"', "''": '"'}
_PTB_TOKEN = re.compile("|".join(re.escape(k) for k in _PTB_REMAP), re.IGNORECASE)


def undo_ptb(text: str) -> str:
    return _PTB_TOKEN.sub(lambda m: _PTB_REMAP[m.group(0).lower()], text)


def normalized_hash(article: str) -> str:
    """Hash of the article's lowercased alphanumerics: the same story raw or PTB-tokenized hashes the same."""
    norm = re.sub(r"[^a-z0-9]", "", undo_ptb(article).lower())
    return hashlib.sha1(norm.encode()).hexdigest()


# Which sentences of a document a summarizer may pick (their indices, in order). Training and evaluation take it from
# the caller, so they apply the same candidate rule as the summarize path without this package depending on it.
SentenceFilter = Callable[[list[str]], list[int]]


@dataclass
class Example:
    id: str
    sentences: list[str]  # article sentences, from the ingest splitter
    reference: list[str]  # highlight sentences
    article: str


def read_jsonl(path: str | Path) -> Iterator[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def to_example(record: dict, sentence_filter: SentenceFilter | None = None) -> Example:
    """CNN/DM records have `highlights`; BBC records have `summary_sentences` and a headline opening the article,
    which ingest would keep as the title (so it is dropped here too). With `sentence_filter`, the example keeps only
    the sentences it selects (the candidates a summarizer is offered)."""
    article = undo_ptb(record["article"])
    highlights = record["highlights"] if "highlights" in record else record["summary_sentences"]
    reference = [undo_ptb(h).strip() for h in (highlights if isinstance(highlights, list) else highlights.split("\n"))]
    sentences = without_leading_title(split_sentences(article), record.get("title"))
    if sentence_filter is not None:
        sentences = [sentences[i] for i in sentence_filter(sentences)]
    return Example(
        id=str(record.get("id", "")),
        sentences=sentences,
        reference=[h for h in reference if h],
        article=record["article"],
    )


def read_records(path: str | Path) -> Iterator[dict]:
    """Usable records in file order: those marked `duplicate_of` (BBC) or without a reference are skipped."""
    for record in read_jsonl(path):
        if not record.get("duplicate_of") and (record.get("highlights") or record.get("summary_sentences")):
            yield record


def read_examples(
    path: str | Path, limit: int | None = None, sentence_filter: SentenceFilter | None = None
) -> Iterator[Example]:
    """Examples of the usable records, in file order (sentence splitting happens here, per example)."""
    for n, record in enumerate(read_records(path)):
        if limit is not None and n >= limit:
            return
        yield to_example(record, sentence_filter)
