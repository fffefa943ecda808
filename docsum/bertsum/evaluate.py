"""ROUGE of the model, Lead-3 and the greedy oracle on the same documents (Google's rouge-score, stemming on).

ROUGE-L is summary-level (`rougeLsum`, one sentence per line), as ROUGE-1.5.5 computed it for the paper.
Sentences come from the ingest splitter, so the figures measure what users get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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


def lead(sentences: Sequence[str], k: int = 3) -> list[int]:
    """Lead-k: the first k sentences offered."""
    return list(range(min(k, len(sentences))))


def rouge_of(scorer: rouge_scorer.RougeScorer, sentences: Sequence[str], picks: Sequence[int], reference: list[str]):
    """ROUGE of the picked sentences (one per line) against the reference (one sentence per line)."""
    return scorer.score("\n".join(reference), "\n".join(sentences[i] for i in picks))


def new_scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


class Benchmark:
    """Documents scored the way `docsum eval` scores them, with the baselines (Lead-3, the greedy oracle) computed
    once: a training run scores each checkpoint's picks on the same documents without redoing them."""

    def __init__(self, docs: Sequence[tuple[list[str], list[str]]], oracle: bool = True):
        self.docs = [(sentences, reference) for sentences, reference in docs if sentences and reference]
        self._scorer = new_scorer()
        self.baselines: dict[str, dict[str, float]] = {}
        systems = {"lead3": lead} | ({"oracle": greedy_oracle} if oracle else {})
        for name, pick in systems.items():
            totals = RougeTotals()
            for sentences, reference in self.docs:
                chosen = pick(sentences) if name == "lead3" else pick(sentences, reference)
                totals.add(rouge_of(self._scorer, sentences, chosen, reference))
            self.baselines[name] = totals.result()

    @property
    def sentences(self) -> list[list[str]]:
        return [sentences for sentences, _ in self.docs]

    def score(self, picks: Sequence[Sequence[int]]) -> dict:
        """{"n", "model", "lead3"[, "oracle"]}: ROUGE F1 x100 of the picks (one list per document) and the baselines."""
        if len(picks) != len(self.docs):
            raise ValueError(f"{len(picks)} picks for {len(self.docs)} documents")
        totals = RougeTotals()
        for (sentences, reference), chosen in zip(self.docs, picks):
            totals.add(rouge_of(self._scorer, sentences, chosen, reference))
        return {"n": len(self.docs), "model": totals.result(), **self.baselines}


def evaluate(
    examples: Iterable[Example],
    summarize: Callable[[list[list[str]]], list[list[int]]],
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """`summarize` maps documents (lists of sentences) to selected sentence indices (document order)."""
    scorer = new_scorer()
    systems = {name: RougeTotals() for name in ("model", "lead3", "oracle")}

    def flush(batch: list[Example]) -> None:
        picks = summarize([ex.sentences for ex in batch])
        for ex, indices in zip(batch, picks):
            systems["model"].add(rouge_of(scorer, ex.sentences, indices, ex.reference))
            systems["lead3"].add(rouge_of(scorer, ex.sentences, lead(ex.sentences), ex.reference))
            systems["oracle"].add(
                rouge_of(scorer, ex.sentences, greedy_oracle(ex.sentences, ex.reference), ex.reference)
            )
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
