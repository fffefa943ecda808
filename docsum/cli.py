"""The `docsum` command line. Each area registers its commands from `docsum/commands/<area>.py`;
heavy imports (torch, celery, pdfminer) happen inside the commands, so `docsum --help` is instant."""

from __future__ import annotations

import typer

from docsum.commands import db, ingest, model, pipeline, training

app = typer.Typer(
    name="docsum",
    help="Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(model.app, name="model")
ingest.register(app)
pipeline.register(app)
training.register(app)

if __name__ == "__main__":
    app()
