"""ROUGE of the model, Lead-3 and the greedy oracle on the same documents (Google's rouge-score, stemming on).

ROUGE-L is summary-level (`rougeLsum`, one sentence per line), as ROUGE-1.5.5 computed it for the paper.
Sentences come from the ingest splitter, so the figures measure what users get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rouge_score import rouge_scorer, scoring

from docsum.bertsum.oracle import greedy_oracle

if TYPE_CHECKING:  # the data module needs the ingest splitter; scoring given sentences does not
    from docsum.bertsum.data import Example

ROUGE_KEYS = ("rouge1", "rouge2", "rougeLsum")


@dataclass
class RougeTotals:
    """Mean F1 over documents (as ROUGE-1.5.5 averages), x100."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ROUGE_KEYS, 0.0))
    n: int = 0

    def add(self, scores: dict[str, scoring.Score]) -> None:
        for key in ROUGE_KEYS:
            self.sums[key] += scores[key].fmeasure
        self.n += 1

    def result(self) -> dict[str, float]:
        mean = {key: round(100 * self.sums[key] / self.n, 2) if self.n else 0.0 for key in ROUGE_KEYS}
        return {"rouge1": mean["rouge1"], "rouge2": mean["rouge2"], "rougeL": mean["rougeLsum"]}


def evaluate(
    examples: Iterable[Example],
    summarize: Callable[[list[list[str]]], list[list[int]]],
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """`summarize` maps documents (lists of sentences) to selected sentence indices (document order)."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    systems = {name: RougeTotals() for name in ("model", "lead3", "oracle")}

    def score(selected: list[str], reference: list[str]) -> dict:
        return scorer.score("\n".join(reference), "\n".join(selected))

    def flush(batch: list[Example]) -> None:
        picks = summarize([ex.sentences for ex in batch])
        for ex, indices in zip(batch, picks):
            systems["model"].add(score([ex.sentences[i] for i in indices], ex.reference))
            systems["lead3"].add(score(ex.sentences[:3], ex.reference))
            oracle = greedy_oracle(ex.sentences, ex.reference)
            systems["oracle"].add(score([ex.sentences[i] for i in oracle], ex.reference))
        if progress:
            progress(len(batch))

    batch: list[Example] = []
    for ex in examples:
        if not ex.sentences or not ex.reference:
            continue
        batch.append(ex)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    n = systems["model"].n
    return {"n": n, **{name: totals.result() for name, totals in systems.items()}}
