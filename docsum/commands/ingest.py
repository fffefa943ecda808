"""`docsum ingest PATH...`: store files, directories and archives as documents, with a progress bar and a report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, directories (recursive) and .zip/.tar/.tar.gz archives.")],
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="SQLAlchemy URL without a password; default: DOCSUM_DATABASE_URL or ./var/docsum.db."
        ),
    ] = None,
) -> None:
    """Extract text, sentences and metadata from PATHs and store them. Failed documents are recorded with
    their reason; the exit code is 0 unless nothing could run (no database, or none of the paths exists)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from sqlalchemy.engine import make_url

    from docsum.commands.common import user_text
    from docsum.config import get_settings
    from docsum.services.database import set_up
    from docsum.services.ingest import count_files, store_paths

    console = Console()
    settings = get_settings()
    if database_url:
        if make_url(database_url).password:  # process arguments are visible to every user of the machine (ps)
            console.print(
                "[red]error:[/red] refusing a password in --database-url: process arguments are visible to every "
                "user of this machine; set DOCSUM_DATABASE_URL (or use ~/.pgpass) instead"
            )
            raise typer.Exit(2)
        settings = settings.model_copy(update={"database_url": database_url})
    # pdfminer logs a warning per odd object; the report below carries what matters.
    logging.getLogger("pdfminer").setLevel(logging.ERROR)

    if not any(p.exists() for p in paths):
        console.print(f"[red]nothing to ingest: none of {user_text(', '.join(map(str, paths)))} exists[/red]")
        raise typer.Exit(2)
    try:
        set_up(settings.database_url)
    except Exception as err:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)  # never print a password
        console.print(
            f"[red]cannot open the database {escape(shown)}: {type(err).__name__}: {user_text(str(err))}[/red]"
        )
        raise typer.Exit(1) from err

    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=count_files(paths))

        def advance(path: Path, _items: list[object]) -> None:
            bar.update(task, advance=1, description=user_text(path.name[-40:]))

        report = store_paths(settings, paths, progress=advance)

    counts = Table(title="ingest")
    for outcome in ("ingested", "duplicate", "failed"):
        counts.add_column(outcome, justify="right")
    c = report.counts()
    counts.add_row(str(c["ingested"]), str(c["duplicate"]), f"[red]{c['failed']}[/red]" if c["failed"] else "0")
    console.print(counts)
    if report.failures:
        failures = Table(title="failed documents")
        failures.add_column("source", overflow="fold")
        failures.add_column("document", justify="right")
        failures.add_column("reason", overflow="fold")
        for item in report.failures:
            failures.add_row(user_text(item.source_uri), str(item.document_id or "-"), user_text(item.reason or ""))
        console.print(failures)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level app."""
    app.command("ingest")(ingest_command)
