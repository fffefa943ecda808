"""BENCH FIXTURE, never a product path: a summarize worker whose model scores at once.

`python bench/null_worker.py [NODENAME]` starts the same solo-pool summarize worker as `docsum worker --queue
summarize`, on the same settings (DOCSUM_*), with the same model's tokenizer and config, but with `NullEngine` in
place of the engine: every document is fetched, prepared and packed into batches exactly as in production, the
encoder and head are skipped, and summaries and job states are written as usual. What it measures is the ceiling the
CPU side and the database set on a worker whatever the accelerator.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docsum.bertsum.engine import InferenceEngine, _EncoderBatch
from docsum.config import Settings


class NullEngine(InferenceEngine):
    """Batches are made as always; scoring them costs nothing (earlier sentences score higher, so selection and
    trigram blocking still do their work)."""

    def _encode(self, batch: _EncoderBatch) -> torch.Tensor:
        self.stats.real_tokens += batch.real_tokens
        self.stats.batches += 1
        self.stats.padded_tokens += batch.input_ids.numel()
        return torch.zeros((sum(batch.cls_counts), 1))

    def _score_group(self, group, docs, scores, usable) -> None:
        self.stats.ext_groups += 1
        for doc_index, doc in docs:
            for j, sentence_index in enumerate(doc.kept):
                scores[doc_index][sentence_index] = 1.0 / (j + 1)
                usable[doc_index][sentence_index] = True


def null_loader(settings: Settings):
    from docsum.services import models

    def load(path: str | None):
        summarizer = models.get_summarizer(settings, path)
        if not isinstance(summarizer.engine, NullEngine):
            summarizer.use_engine(NullEngine(summarizer, max_batch_tokens=settings.max_batch_tokens))
        return summarizer

    return load


def main() -> None:
    from docsum.worker import metrics
    from docsum.worker.app import create_app

    settings = Settings()
    loader = null_loader(settings)
    metrics.get_summarizer = lambda _settings, path: loader(path)  # the fixture: only this process, only this script
    app = create_app(settings)
    app.worker_main(
        [
            "worker",
            "--queues=summarize",
            "--pool=solo",
            "--concurrency=1",
            f"--hostname={sys.argv[1] if len(sys.argv) > 1 else 'null-bench@%h'}",
            "--loglevel=INFO",
        ]
    )


if __name__ == "__main__":
    main()
