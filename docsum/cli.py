"""The `docsum` command line. Each area adds its commands with `register(app)` from `docsum/commands/<area>.py`;
heavy imports (torch, celery, pdfminer) happen inside the commands, so `docsum --help` is instant."""

from __future__ import annotations

import typer

from docsum.commands import batches, db, fleet, ingest, model, training

app = typer.Typer(
    name="docsum",
    help="Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for area in (batches, ingest, fleet, db, model, training):
    area.register(app)

if __name__ == "__main__":
    app()
