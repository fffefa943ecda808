"""The `docsum` command line. Each area adds its commands with `register(app)` from `docsum/commands/<area>.py`;
heavy imports (torch, celery, pdfminer) happen inside the commands, so `docsum --help` is instant."""

from __future__ import annotations

import typer

from docsum.commands import batches, db, fleet, ingest, model, training


class _DocsumApp(typer.Typer):
    """The typer app, with known outages and bad settings turned into one `error:` line and their exit code
    (docsum.outages) instead of a traceback; anything else is a bug and keeps its traceback."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as err:
            from docsum.outages import describe

            known = describe(err)
            if known is None:
                raise
            code, message = known
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
            raise SystemExit(code) from None


app = _DocsumApp(
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
    from docsum.config import get_settings

    get_settings()  # a bad DOCSUM_* value stops any command here, as one `error:` line (exit 5), before any work


if __name__ == "__main__":
    app()
