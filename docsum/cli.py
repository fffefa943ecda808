"""The `docsum` command line. Each area adds its commands with `register(app)` from `docsum/commands/<area>.py`;
heavy imports (torch, celery, pdfminer) happen inside the commands, so `docsum --help` is instant."""

from __future__ import annotations

import typer

from docsum.commands import batches, db, fleet, ingest, model, training
from docsum.commands.common import fail

app = typer.Typer(
    name="docsum",
    help="Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for area in (batches, ingest, fleet, db, model, training):
    area.register(app)


@app.callback()
def check_settings() -> None:
    """Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM."""
    from docsum.config import SettingsError, get_settings

    try:
        get_settings()  # a bad DOCSUM_* value is one line here, not a traceback in the middle of a command
    except SettingsError as error:
        raise fail(f"bad setting: {error}") from None

if __name__ == "__main__":
    app()
