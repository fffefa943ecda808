"""Main-content extraction on real pages of the scrapinghub benchmark (../shared/data/html_benchmark): a fixed sample
of 10 pages through the ingest path (decode, extract, split), scored like bench/html_extraction.py."""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

from docsum.config import Settings
from docsum.ingest.extract import extract_document
from docsum.ingest.quality import shingle_f1
from docsum.ingest.sentences import split_sentences

# Measured on this sample: mean 0.963, lowest page 0.759 (the whole benchmark: mean 0.954, see bench/).
MEAN_FLOOR = 0.93
PAGE_FLOOR = 0.70


def test_html_benchmark_sample(shared_data: Path) -> None:
    root = shared_data / "html_benchmark"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    assert len(truth) == 181
    sample = sorted(truth)[::18][:10]  # every 18th page id: a fixed, spread-out sample
    settings = Settings(database_url="sqlite://")
    scores = []
    for page_id in sample:
        raw = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes())
        doc = extract_document(raw, f"{page_id}.html", settings)
        assert doc.media_type == "text/html" and doc.title and doc.language in {"en", "de"}
        # The stored sentences are the text's, less a leading headline (kept as the title).
        split = split_sentences(doc.text, doc.language)
        assert doc.sentences in (split, split[1:])
        scores.append(shingle_f1(" ".join(doc.sentences), truth[page_id]["articleBody"]))
    assert min(scores) >= PAGE_FLOOR, scores
    assert statistics.mean(scores) >= MEAN_FLOOR, scores
