"""Which stored sentences the model is offered, and how its pick becomes a stored summary.

The model sees only candidate sentences (ingest.candidates); a summary's indices always refer to the document's
stored sentences. A document that has text but no sentence the model picks never ends with a silent empty summary:

- if some lines are merely short (a form, a table of short lines), its longest such lines stand in, the summary's
  scores are 0.0 and its `note` says so;
- if every sentence is page furniture, markup or a byline, the job fails with that reason (`no_summary_reason`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docsum.ingest.candidates import FRAGMENT, count_words, has_letter, skip_reasons

FALLBACK_NOTE = (
    "no sentence passed the summarizer's filters (every candidate too short or none at all); "
    "the document's longest lines stand in"
)


def document_skips(
    sentences: Sequence[str], info: Sequence[dict[str, Any]] | None, stored: Sequence[str | None] | None = None
) -> list[str | None]:
    """Per stored sentence, why it is not a candidate (None: it is): `stored` (documents.sentence_skips) when it
    has one verdict per sentence, else the records' "skip". Records stored before candidates existed (no "skip"
    key) are classified now with the current rule, using their pages."""
    if stored is not None and len(stored) == len(sentences):
        return list(stored)
    if info and len(info) == len(sentences) and all("skip" in record for record in info):
        return [record["skip"] for record in info]
    pages = [record.get("page") for record in info] if info and len(info) == len(sentences) else None
    return skip_reasons(sentences, pages if pages and any(p is not None for p in pages) else None)


# `skips` below: document_skips(sentences, info), when the caller has it already (a worker reads hundreds of
# documents a second and classifies each once).


def offered_indices(
    sentences: Sequence[str], info: Sequence[dict[str, Any]] | None, skips: Sequence[str | None] | None = None
) -> list[int]:
    """Stored indices of the sentences the model is offered, in document order."""
    skips = skips if skips is not None else document_skips(sentences, info)
    return [i for i, reason in enumerate(skips) if reason is None]


def fallback_indices(
    sentences: Sequence[str],
    info: Sequence[dict[str, Any]] | None,
    k: int,
    skips: Sequence[str | None] | None = None,
) -> list[int]:
    """The k longest lines that are merely short (not furniture, markup or bylines), in document order."""
    skips = skips if skips is not None else document_skips(sentences, info)
    usable = [i for i, reason in enumerate(skips) if reason in (None, FRAGMENT) and has_letter(sentences[i])]
    longest = sorted(usable, key=lambda i: (-count_words(sentences[i]), i))[:k]
    return sorted(longest)


def no_summary_reason(
    sentences: Sequence[str] | None,
    info: Sequence[dict[str, Any]] | None,
    skips: Sequence[str | None] | None = None,
) -> str | None:
    """Why a document cannot have any summary, or None when it can (candidates, or lines to stand in)."""
    if not sentences:
        return "document has no sentences"
    skips = skips if skips is not None else document_skips(sentences, info)
    if any(reason is None and has_letter(sentences[i]) for i, reason in enumerate(skips)):
        return None  # a candidate: the usual case, decided without counting words
    if fallback_indices(sentences, info, 1, skips):
        return None
    kinds = sorted({r for r in skips if r is not None})
    return (
        f"no summarizable sentence: all {len(sentences)} sentences are page furniture, markup, bylines or lines "
        f"without letters ({', '.join(kinds)})"
    )


@dataclass
class StoredPick:
    indices: list[int]  # stored sentence indices, document order
    scores: list[float]
    text: str
    note: str | None = None


def to_stored(
    sentences: Sequence[str],
    info: Sequence[dict[str, Any]] | None,
    offered: Sequence[int],
    picked: Sequence[int],
    scores: Sequence[float],
    k: int,
    skips: Sequence[str | None] | None = None,
) -> StoredPick:
    """The model's pick over the offered sentences as stored indices; the longest lines when it picked nothing."""
    if picked:
        indices = [offered[i] for i in picked]
        return StoredPick(indices, [float(s) for s in scores], " ".join(sentences[i].strip() for i in indices))
    indices = fallback_indices(sentences, info, k, skips)
    return StoredPick(indices, [0.0] * len(indices), " ".join(sentences[i].strip() for i in indices), FALLBACK_NOTE)
