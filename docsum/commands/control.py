"""Commands that act on a batch already submitted: `docsum cancel`, `docsum retry` and `docsum report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docsum.commands.common import err_console, fail, require_schema, stdout_console

BatchId = Annotated[int, typer.Argument(metavar="BATCH", help="Batch id (`docsum batches` lists them).")]


def cancel(batch_id: BatchId) -> None:
    """Cancel a batch: its queued and running documents are cancelled, workers skip them. Safe to repeat."""
    from docsum.client import Client
    from docsum.errors import BatchNotFound

    require_schema()
    with Client() as client:
        try:
            n = client.cancel(batch_id)
            report = client.status(batch_id)
        except BatchNotFound as error:
            raise fail(str(error)) from None
    if n:
        stdout_console().print(f"batch {batch_id}: {n} document{'s' if n != 1 else ''} cancelled")
    else:
        stdout_console().print(f"batch {batch_id} is {report.status}: nothing left to cancel")


def retry(
    batch_id: BatchId,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the retried documents.")] = False,
) -> None:
    """Send a batch's failed documents back to the summarize queue (those whose file cannot be read fail again at
    once, with their reason). A batch whose process died (interrupted) is resumed instead: its paths run again as a
    new batch, and what it summarized is not summarized again."""
    from docsum.client import Client
    from docsum.errors import BatchCancelled, BatchNotFound
    from docsum.outages import EXIT_SOME_FAILED

    require_schema()
    with Client() as client:
        client.close_interrupted()
        try:
            interrupted = client.status(batch_id).interrupted
        except BatchNotFound as error:
            raise fail(str(error)) from None
        if interrupted:  # its process died: its unfinished work goes on in a new batch, nothing done is redone
            try:
                handle = client.resume(batch_id)
            except (ValueError, FileNotFoundError) as error:
                raise fail(str(error)) from None
            stdout_console().print(
                f"batch {batch_id} was interrupted: its unfinished work goes on as batch {int(handle)} "
                "(documents it summarized are not summarized again)"
            )
            if wait or client.app.embedded:  # embedded: the work runs in this process, which must stay
                report = client.wait(handle)
                stdout_console().print(str(report))
                if report.counts["failed"]:
                    raise typer.Exit(code=EXIT_SOME_FAILED)
            return
        try:
            n = client.retry_failed(batch_id)
        except (BatchNotFound, BatchCancelled) as error:
            raise fail(str(error)) from None
        if n == 0:
            left = client.status(batch_id).counts["failed"]
            why = f" ({left} failed at ingest or cannot be summarized)" if left else ""
            stdout_console().print(f"batch {batch_id}: no failed document to send again{why}; the batch is unchanged")
            # Waiting asks for the batch's outcome: a batch that ended with failures says so, resent or not.
            if wait and left:
                raise typer.Exit(code=EXIT_SOME_FAILED)
            return
        stdout_console().print(f"batch {batch_id}: {n} failed document{'s' if n != 1 else ''} sent again")
        if wait or client.app.embedded:
            report = client.wait(batch_id)
            stdout_console().print(str(report))
            if report.counts["failed"]:
                raise typer.Exit(code=EXIT_SOME_FAILED)


def report(
    batch_id: BatchId,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE.html", help="Where to write the page.")] = Path(
        "report.html"
    ),
) -> None:
    """Write a batch's report: one self-contained HTML page with its counts, speed, failures by class and every
    document's summary."""
    from docsum.client import Client
    from docsum.errors import BatchNotFound

    require_schema()
    with Client() as client:
        try:
            path = client.write_report(batch_id, out)
        except BatchNotFound as error:
            raise fail(str(error)) from None
    err_console().print(f"wrote the report of batch {batch_id} to {path}")


def register(app: typer.Typer) -> None:
    """Add `docsum batches`, `docsum cancel`, `docsum retry` and `docsum report`."""
    app.command()(cancel)
    app.command()(retry)
    app.command()(report)
