"""`docsum eval`: ROUGE of a model, Lead-3 and the greedy oracle on the same documents of a JSONL file, with the
summarize path's candidate rule, the model loaded as workers load it (token budget, compute dtype): the figures are
what the product gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from docsum.bertsum.data import read_examples, read_records
from docsum.bertsum.evaluate import evaluate
from docsum.bertsum.precision import dtype_name
from docsum.config import Settings
from docsum.ingest.extract import offered_sentences
from docsum.services.models import get_summarizer, model_path


def count_articles(data: Path) -> int:
    return sum(1 for _ in read_records(data))


def evaluate_file(
    settings: Settings,
    data: Path,
    model: str | None = None,
    limit: int | None = None,
    k: int | None = None,
    block_trigrams: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Figures per system ({"model"|"lead3"|"oracle": {"rouge1", "rouge2", "rougeL"}}, "n", ...), plus the model's
    id, the data file and the compute dtype. No model given: the configured or shipped one, or ModelNotFound (never
    ROUGE of an untrained head). `k` defaults to DOCSUM_SUMMARY_SENTENCES."""
    summarizer = get_summarizer(settings, model_path(settings, model))
    k = k or settings.summary_sentences
    result = evaluate(
        read_examples(data, offered_sentences, limit),
        lambda docs: [s.indices for s in summarizer.summarize(docs, k=k, block_trigrams=block_trigrams)],
        progress=progress,
    )
    result.update(model_id=summarizer.model_id, data=str(data), dtype=dtype_name(summarizer.engine.compute_dtype), k=k)
    return result
