"""The batch commands: `docsum run` (the main job), `docsum nightly`, `docsum batches`, `docsum status` and
`docsum results`."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docsum.commands.common import err_console, fail, require_schema, stdout_console, user_text
from docsum.commands.output import FORMAT_HELP, export_target
from docsum.services.export import EXPORT_FORMATS

if TYPE_CHECKING:
    from rich.console import Console

    from docsum.client import Client
    from docsum.services.batches import BatchReport

ExportFormat = StrEnum("ExportFormat", {fmt: fmt for fmt in EXPORT_FORMATS})
SUMMARY_PREVIEW_WORDS = 14
TABLE_ROWS = 200


def _progress_loop(
    client: Client, batch_id: int, console: Console, ctrl_c: threading.Event | None = None
) -> BatchReport:
    """Progress bars until the batch ends. `ctrl_c`: a Ctrl-C remembered since before the loop (see
    `_remembered_ctrl_c`); without one, the loop remembers its own."""
    if ctrl_c is None:
        with _remembered_ctrl_c() as own:
            return _progress_loop(client, batch_id, console, own)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        ingest = bar.add_task("ingest", total=None, note="")
        summarize = bar.add_task("summarize", total=None, note="")
        watch = _StallWatch(client, bar.console)

        def show(report: BatchReport) -> None:
            if ctrl_c.is_set():
                raise KeyboardInterrupt
            watch.check(report)
            if report.files_total:
                bar.update(ingest, total=report.files_total, completed=report.files_done)
            else:
                bar.update(ingest, total=1, completed=1, note="stored documents")
            c = report.counts
            bar.update(
                summarize,
                total=report.jobs or None,
                completed=report.done,
                note=f"{c['running']} running · {c['failed']} failed · {report.docs_per_s:.1f} docs/s",
            )

        return client.wait(batch_id, progress=show, progress_every_poll=True)  # the stall watch needs quiet polls


@contextlib.contextmanager
def _leaving_on_ctrl_c(client: Client, batch_id: int, console: Console) -> Iterator[None]:
    """Around everything a command does once its batch exists: a Ctrl-C leaves the batch going on (in the fleet)
    and says how to follow it, with exit code 130, wherever it lands (between two prints as well as in the loop)."""
    try:
        yield
    except KeyboardInterrupt:
        where = "stopped with this process" if client.app.embedded else "goes on in the worker fleet"
        console.print(
            f"stopped waiting; batch {batch_id} {where}: `docsum status {batch_id} --watch`, `docsum cancel {batch_id}`"
        )
        raise typer.Exit(code=130) from None


@contextlib.contextmanager
def _remembered_ctrl_c() -> Iterator[threading.Event]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered, so that the next poll raises it again: Python
    ignores an exception raised inside a finalizer (a connection collected at that moment), which lost a Ctrl-C."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield pressed
        return

    def handler(signum: int, frame: object) -> None:
        pressed.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


class _StallWatch:
    """Says so, once per queue, when the batch has not moved for DOCSUM_NO_WORKER_WARNING_S and no worker consumes
    the queue its work waits in (a fleet not started, or started on another broker)."""

    def __init__(self, client: Client, console: Console) -> None:
        self.client = client
        self.console = console
        self.after = client.settings.no_worker_warning_s
        self.last: tuple[int, ...] | None = None
        self.since = time.monotonic()
        self.warned: set[str] = set()

    def check(self, report: BatchReport) -> None:
        state = (report.files_done, report.done, report.counts["running"])
        now = time.monotonic()
        if state != self.last:
            self.last, self.since = state, now
            return
        if self.client.app.embedded or self.after <= 0 or now - self.since < self.after or report.status != "running":
            return
        waiting = []
        if report.files_done < report.files_total:
            waiting.append("ingest")
        if report.counts["queued"] and not report.counts["running"]:
            waiting.append("summarize")
        waiting = [q for q in waiting if q not in self.warned]
        if not waiting:
            return
        consumers = self.client.queue_consumers() or {}
        for queue in waiting:
            if not consumers.get(queue):
                self.warned.add(queue)
                self.console.print(
                    f"[yellow]no worker is consuming the {queue} queue (nothing moved for {now - self.since:.0f} s): "
                    f"start one with `docsum worker --queue {queue}` (same DOCSUM_BROKER_URL and DOCSUM_DATABASE_URL)"
                    "[/yellow]"
                )
        self.since = now  # ask the workers again only after another quiet period


def _preview(words: str, n: int = SUMMARY_PREVIEW_WORDS) -> str:
    parts = words.split()
    return " ".join(parts[:n]) + (" …" if len(parts) > n else "")


def _results_table(client: Client, batch_id: int, console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"batch {batch_id}", show_lines=False)
    table.add_column("document", overflow="fold", max_width=48)
    table.add_column("status")
    table.add_column("summary (first words) / error", overflow="fold")
    shown = total = 0
    for record in client.results(batch_id):
        total += 1
        if shown >= TABLE_ROWS:
            continue
        shown += 1
        name = record.title or Path(record.source_uri.split("!")[-1]).name
        colour = {"succeeded": "green", "failed": "red"}.get(record.status, "yellow")
        text = _preview(" ".join(record.summary)) if record.summary else (record.error or "")
        table.add_row(user_text(name), f"[{colour}]{record.status}[/{colour}]", user_text(text))  # names are user data
    if total > shown:
        table.caption = f"{shown} of {total} documents shown; export with --out for all"
    console.print(table)


def _failed(report: BatchReport, label: str = " failed") -> str:
    """'3 failed (2 unreadable, 1 too_large)': the count, by class."""
    by_class = ", ".join(f"{n} {name}" for name, n in report.failures.items())
    return f"{report.counts['failed']}{label}" + (f" ({by_class})" if by_class else "")


def _print_report(report: BatchReport, console: Console) -> None:
    c = report.counts
    console.print(
        f"batch {report.batch_id} [bold]{report.status}[/bold]: {c['succeeded']} succeeded, {_failed(report)}, "
        f"{c['cancelled']} cancelled, {c['queued']} queued, {c['running']} running · files {report.files_done}/"
        f"{report.files_total} · {report.elapsed_s:.1f} s · {report.docs_per_s:.2f} docs/s"
    )


def _exit_if_failures(report: BatchReport) -> None:
    """A batch that ended with failed documents exits with its own code, so scripts and cron can tell it from a
    clean run (0) and from an outage (3, 4, 5)."""
    from docsum.outages import EXIT_SOME_FAILED

    if report.counts["failed"]:
        raise typer.Exit(code=EXIT_SOME_FAILED)


def _export(client: Client, batch_id: int, out: Path | None, fmt: str, console: Console) -> None:
    """Write the results to `out` (None: stdout, with no note there to spoil them) in `fmt`."""
    from docsum.services.export import write_results

    if out is None:
        write_results(client.results(batch_id), sys.stdout, fmt)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        n = write_results(client.results(batch_id), fh, fmt)
    console.print(f"wrote {n} results to {out}")


def run(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="Files, directories and archives to summarize.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Export results (.jsonl or .csv; '-' for stdout)."),
    ] = None,
    fmt: Annotated[ExportFormat | None, typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    k: Annotated[
        int | None,
        typer.Option("--k", min=1, metavar="N", help="Sentences per summary (default: DOCSUM_SUMMARY_SENTENCES)."),
    ] = None,
    name: Annotated[str | None, typer.Option(metavar="TEXT", help="Batch name (default: the time).")] = None,
    model: Annotated[str | None, typer.Option(metavar="DIR", help="Model directory (default: settings).")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", metavar="FILE.html", help="Also write the batch's HTML report.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Summarize again documents that already have a summary from this model (replacing it)."
        ),
    ] = False,
) -> None:
    """Ingest and summarize PATHs: live progress, a results table, and an optional export.

    A document that already has a summary from the same model and parameters (an earlier run, or one killed
    midway) is not summarized again: it shows that summary, unless --force. An earlier embedded run whose process
    is gone is closed first, and said so.

    Without DOCSUM_BROKER_URL everything runs in this process (SQLite, an in-process Celery worker);
    with it, work goes through Redis to the worker fleet and this command waits for it. Ctrl-C stops
    waiting; the batch goes on (follow it with `docsum status BATCH`, stop it with `docsum cancel BATCH`).
    Exit code 6 when the batch ends with failed documents (each in the results with its reason).
    """
    from docsum.client import Client, collect_files
    from docsum.config import ModelNotFound

    console = err_console()
    try:
        target, out_format = export_target(out, fmt.value if fmt else None)
        collect_files(paths)  # missing paths fail here, before a batch exists
    except (ValueError, FileNotFoundError) as error:
        raise fail(str(error)) from None

    with Client() as client:
        mode = "embedded worker (no DOCSUM_BROKER_URL)" if client.app.embedded else "worker fleet via Redis"
        from rich.markup import escape
        from sqlalchemy.engine import make_url

        shown = make_url(client.settings.database_url).render_as_string(hide_password=True)  # never print a password
        console.print(f"[dim]{mode}; database {escape(shown)}[/dim]")
        for closed, cancelled in client.close_interrupted():
            console.print(
                f"[yellow]batch {closed} was interrupted (its process is gone): closed, {cancelled} unfinished "
                "documents cancelled; what it summarized is kept and not summarized again[/yellow]"
            )
        # Remembered from before the submit: a Ctrl-C that Python drops (raised inside a finalizer, as can happen
        # under load) between the submit and the first poll still stops the waiting at that poll.
        with _remembered_ctrl_c() as ctrl_c:
            try:
                batch_id = client.submit(paths, name=name, model=model, k=k, force=force)
            except ModelNotFound as error:
                if model:  # the --model given: a bad argument
                    raise fail(str(error)) from None
                raise  # the configured model: a configuration error (exit 5, docsum.outages)
            except (ValueError, FileNotFoundError) as error:
                raise fail(str(error)) from None
            with _leaving_on_ctrl_c(client, int(batch_id), console):
                console.print(f"batch {int(batch_id)} submitted (follow: docsum status {int(batch_id)} --watch)")
                final = _progress_loop(client, batch_id, console, ctrl_c)
        # With `--out -` the results own stdout: the table goes to stderr with the progress.
        _results_table(client, batch_id, console if out is not None and target is None else stdout_console())
        _print_report(final, console)
        if out is not None:
            _export(client, batch_id, target, out_format, console)
        if report is not None:
            console.print(f"wrote the report to {client.write_report(batch_id, report)}")
    _exit_if_failures(final)


def nightly(
    roots: Annotated[
        list[Path] | None, typer.Argument(metavar="[ROOT...]", help="Archive roots (default DOCSUM_NIGHTLY_ROOTS).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the summaries (always, when embedded).")
    ] = True,
) -> None:
    """The nightly bulk run now: new and changed files under the roots are ingested and summarized, unchanged ones
    skipped unread, stored documents lacking a summary for the current model summarized; a batch named
    'nightly YYYY-MM-DD' records it."""
    from docsum.client import Client
    from docsum.config import get_settings

    console = err_console()
    roots = roots or [Path(r) for r in get_settings().nightly_roots]
    if not roots:
        raise fail("no archive roots: pass ROOT... or set DOCSUM_NIGHTLY_ROOTS")
    # Remembered from before the scan, as in `docsum run`: a Ctrl-C that Python drops under load still stops the
    # waiting at the next poll, and leaves the batch going on.
    with Client() as client, _remembered_ctrl_c() as ctrl_c:
        try:
            outcome = client.nightly(roots)
        except FileNotFoundError as error:
            raise fail(str(error)) from None
        from docsum.services.nightly import describe_scan

        with _leaving_on_ctrl_c(client, outcome.batch_id, console):
            console.print(f"nightly batch {outcome.batch_id}: {describe_scan(outcome.scan)}")
            if not outcome.to_summarize and not outcome.to_ingest:
                console.print("nothing to summarize")
                final = client.status(outcome.batch_id)
            else:
                console.print(
                    f"{len(outcome.to_ingest)} files to ingest, {len(outcome.to_summarize)} stored documents to "
                    "summarize"
                )
                if not (wait or client.app.embedded):
                    return
                final = _progress_loop(client, outcome.batch_id, console, ctrl_c)
        _print_report(final, console)
        _exit_if_failures(final)


def status(
    batch_id: Annotated[int, typer.Argument(metavar="BATCH", help="Batch id.")],
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Follow a running batch with the progress bars of `docsum run` until it ends (Ctrl-C stops "
            "watching; the batch goes on); exit code 6 if it ends with failed documents.",
        ),
    ] = False,
) -> None:
    """Counts by state, ingest progress and throughput of a batch."""
    from docsum.client import Client

    require_schema()
    with Client() as client:
        try:
            report = client.status(batch_id)
        except LookupError as error:
            raise fail(str(error)) from None
        console = stdout_console()
        console.print(f"batch {report.batch_id} {user_text(repr(report.name))} · model {report.model_id}")
        if watch and report.status == "running":
            progress = err_console()
            try:
                report = _progress_loop(client, batch_id, progress)
            except KeyboardInterrupt:
                progress.print(f"stopped watching; batch {batch_id} goes on: `docsum status {batch_id} --watch`")
                raise typer.Exit(code=130) from None
        _print_report(report, console)
    if watch:
        _exit_if_failures(report)


def results(
    batch_id: Annotated[int, typer.Argument(metavar="BATCH", help="Batch id.")],
    fmt: Annotated[ExportFormat | None, typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="File, .jsonl or .csv (default or '-': stdout).")
    ] = None,
) -> None:
    """Export a batch's results as JSON lines or CSV; the format follows the --out file name, as for `docsum run`."""
    from docsum.client import Client

    target, out_format = export_target(out, fmt.value if fmt else None)
    require_schema()
    with Client() as client:
        try:
            client.status(batch_id)
        except LookupError as error:
            raise fail(str(error)) from None
        _export(client, batch_id, target, out_format, err_console())


def batches(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, metavar="N", help="How many, newest first.")] = 20,
) -> None:
    """List recent batches: status, documents done, failures, files ingested and speed."""
    from rich.table import Table

    from docsum.client import Client

    require_schema()
    with Client() as client:
        reports = client.batches(limit)
    if not reports:
        err_console().print("no batches yet: `docsum run PATH...` creates one")
        return
    table = Table(title="recent batches")
    for column, justify in (
        ("id", "right"),
        ("name", "left"),
        ("status", "left"),
        ("done", "right"),
        ("failed", "right"),
        ("files", "right"),
        ("created (UTC)", "left"),
        ("docs/s", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    colours = {"finished": "green", "cancelled": "yellow", "running": "cyan", "interrupted": "red"}
    for r in reports:
        colour = colours.get(r.status, "white")
        table.add_row(
            str(r.batch_id),
            user_text(r.name),
            f"[{colour}]{r.status}[/{colour}]"
            + (" (interrupted)" if r.interrupted and r.status != "interrupted" else ""),
            f"{r.done}/{r.jobs}",
            _failed(r, label=""),
            f"{r.files_done}/{r.files_total}" if r.files_total else "-",
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{r.docs_per_s:.2f}",
        )
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    """Add `docsum run`, `docsum nightly`, `docsum status` and `docsum results`."""
    app.command()(run)
    app.command()(batches)
    app.command()(nightly)
    app.command()(status)
    app.command()(results)
