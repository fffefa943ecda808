"""Bytes → clean text + sentences + metadata, and storing documents (contract: docs/ARCHITECTURE.md, "Ingest").

Modules, one job each: `sources` (paths, directories, archives → bytes, safely), `sniff` (media type from content),
`decode` (bytes → str), `pdf` / `html` / `text` (extractors), `reflow` (wrapped lines → paragraphs),
`language`, `sentences` (the one splitter), `timelimit`, `extract` (dispatch), `store` (one document, deduped,
committed), `pipeline` (the entry points), `quality` (the shingle-F1 metric of the benches and tests).
"""
