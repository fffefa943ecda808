"""pipeline commands of the `docsum` CLI: run, worker, beat, flower, nightly, status, results."""

from __future__ import annotations

import ipaddress
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from docsum.client import BatchReport, Client


class QueueName(StrEnum):
    ingest = "ingest"
    summarize = "summarize"


class Pool(StrEnum):
    prefork = "prefork"
    solo = "solo"
    threads = "threads"


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


SUMMARY_PREVIEW_WORDS = 14
TABLE_ROWS = 200


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # messages stay one line each, greppable in logs


def _stdout_console() -> Console:
    """Tables and results go to stdout; progress and notes to stderr."""
    from rich.console import Console

    return Console()


def _fail(message: str) -> typer.Exit:
    from rich.markup import escape

    _console().print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=2)


def _require_broker() -> str:
    from docsum.config import get_settings

    url = get_settings().broker_url
    if not url:
        raise _fail(
            "DOCSUM_BROKER_URL is not set. Workers, beat and Flower need Redis (e.g. redis://127.0.0.1:6379/0); "
            "without it, `docsum run` works alone with an in-process worker."
        )
    return url


# --- the main job ------------------------------------------------------------------------------------------------


def _progress_loop(client: Client, batch_id: int, console: Console) -> BatchReport:
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

        def show(report: BatchReport) -> None:
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

        return client.wait(batch_id, progress=show)


def _preview(words: str, n: int = SUMMARY_PREVIEW_WORDS) -> str:
    parts = words.split()
    return " ".join(parts[:n]) + (" …" if len(parts) > n else "")


def _results_table(client: Client, batch_id: int, console: Console) -> None:
    from rich.markup import escape
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
        table.add_row(escape(name), f"[{colour}]{record.status}[/{colour}]", escape(text))  # names are user data
    if total > shown:
        table.caption = f"{shown} of {total} documents shown; export with --out for all"
    console.print(table)


def _print_report(report: BatchReport, console: Console) -> None:
    c = report.counts
    console.print(
        f"batch {report.batch_id} [bold]{report.status}[/bold]: {c['succeeded']} succeeded, {c['failed']} failed, "
        f"{c['cancelled']} cancelled, {c['queued']} queued, {c['running']} running · files {report.files_done}/"
        f"{report.files_total} · {report.elapsed_s:.1f} s · {report.docs_per_s:.2f} docs/s"
    )


def _export(client: Client, batch_id: int, out: Path, console: Console) -> None:
    from docsum.client import export_format, write_results

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        n = write_results(client.results(batch_id), fh, export_format(out))
    console.print(f"wrote {n} results to {out}")


def run(
    paths: Annotated[list[Path], typer.Argument(help="Files and directories to summarize.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Export results (.jsonl or .csv).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Sentences per summary.")] = 3,
    name: Annotated[str | None, typer.Option(help="Batch name.")] = None,
    model: Annotated[str | None, typer.Option(help="Model directory (default: settings).")] = None,
) -> None:
    """Ingest and summarize PATHs: live progress, a results table, and an optional export.

    Without DOCSUM_BROKER_URL everything runs in this process (SQLite, an in-process Celery worker);
    with it, work goes through Redis to the worker fleet and this command waits for it.
    """
    from docsum.client import Client, collect_files, export_format
    from docsum.config import ModelNotFound

    console = _console()
    try:
        if out is not None:
            export_format(out)
        collect_files(paths)  # missing paths fail here, before a batch exists
    except (ValueError, FileNotFoundError) as error:
        raise _fail(str(error)) from None

    with Client() as client:
        mode = "embedded worker (no DOCSUM_BROKER_URL)" if client.app.embedded else "worker fleet via Redis"
        from rich.markup import escape
        from sqlalchemy.engine import make_url

        shown = make_url(client.settings.database_url).render_as_string(hide_password=True)  # never print a password
        console.print(f"[dim]{mode}; database {escape(shown)}[/dim]")
        try:
            batch_id = client.submit(paths, name=name, model=model, k=k)
        except ModelNotFound:
            raise  # a configuration error (exit 5, docsum.outages), not a bad argument
        except (ValueError, FileNotFoundError) as error:
            raise _fail(str(error)) from None
        report = _progress_loop(client, batch_id, console)
        _results_table(client, batch_id, _stdout_console())
        _print_report(report, console)
        if out is not None:
            _export(client, batch_id, out, console)


# --- fleet processes -------------------------------------------------------------------------------------------


def worker(
    queue: Annotated[QueueName, typer.Option("--queue", "-Q", help="ingest (CPU) or summarize (GPU).")],
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, help="Default: CPUs for ingest, 1 for summarize.")] = None,
    pool: Annotated[Pool | None, typer.Option("--pool", "-P", help="Default: prefork for ingest, solo for summarize.")] = None,
    hostname: Annotated[str | None, typer.Option("--hostname", "-n", help="Node name (default QUEUE@%h).")] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
) -> None:
    """A Celery worker on one queue, with task events on (for Flower).

    Run one summarize worker per GPU (pin it with CUDA_VISIBLE_DEVICES or DOCSUM_DEVICE); it loads the model
    once, on its first task, in its own process.
    """
    _require_broker()
    if queue == QueueName.summarize:
        pool = pool or Pool.solo
        if pool == Pool.prefork:
            raise _fail("summarize workers must not fork (CUDA cannot be re-initialised in a forked child): use --pool solo")
        concurrency = concurrency or 1
    else:
        pool = pool or Pool.prefork
        concurrency = concurrency or (os.cpu_count() or 1)
    from docsum.worker.app import app

    argv = [
        "worker",
        f"--queues={queue.value}",
        f"--pool={pool.value}",
        f"--concurrency={concurrency}",
        f"--hostname={hostname or f'{queue.value}@%h'}",
        f"--loglevel={loglevel}",
        "--task-events",
    ]
    app.worker_main(argv)


def beat(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
    schedule: Annotated[Path, typer.Option(help="Beat's state file.")] = Path("var/celerybeat-schedule"),
) -> None:
    """Celery beat: sends the nightly bulk run (DOCSUM_NIGHTLY_CRON over DOCSUM_NIGHTLY_ROOTS)."""
    _require_broker()
    from docsum.config import get_settings

    settings = get_settings()
    if not settings.nightly_roots:
        raise _fail('DOCSUM_NIGHTLY_ROOTS is empty: set it to a JSON list of archive roots, e.g. ["/data/archive"]')
    from docsum.worker.app import app

    schedule.parent.mkdir(parents=True, exist_ok=True)
    _console().print(f"nightly run at cron {settings.nightly_cron!r} (UTC) over {', '.join(settings.nightly_roots)}")
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name, or "" (all interfaces): not provably local


def valid_basic_auth(value: str) -> bool:
    pairs = [pair.partition(":") for pair in value.split(",")]
    return all(user and sep and password for user, sep, password in pairs)


def flower(
    address: Annotated[str | None, typer.Option(help="Listen address (default settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 5555).")] = None,
) -> None:
    """Flower, the live task monitor, on the same broker. Beyond loopback it requires DOCSUM_FLOWER_BASIC_AUTH."""
    _require_broker()
    from docsum.config import get_settings

    settings = get_settings()
    address = settings.flower_address if address is None else address
    port = settings.flower_port if port is None else port
    auth = settings.flower_basic_auth
    if not is_loopback(address) and not auth:
        raise _fail(
            f"refusing to serve Flower on {address or 'all interfaces'} without authentication (anyone who can reach "
            "it could see and revoke tasks, CVE-2022-30034). Set DOCSUM_FLOWER_BASIC_AUTH=user:password, or listen "
            "on 127.0.0.1."
        )
    if auth and not valid_basic_auth(auth):
        raise _fail("DOCSUM_FLOWER_BASIC_AUTH must be user:password[,user2:password2], each part non-empty")
    env = dict(os.environ)
    env.pop("FLOWER_BASIC_AUTH", None)
    if auth:
        # Flower reads any option from FLOWER_<NAME>; the environment, unlike argv, is not visible in `ps`.
        env["FLOWER_BASIC_AUTH"] = auth
    argv = [sys.executable, "-m", "celery", "--app=docsum.worker.app", "flower", f"--address={address}", f"--port={port}"]
    _console().print(f"Flower on http://{address}:{port}/ ({'basic auth' if auth else 'no auth, loopback only'})")
    os.execve(sys.executable, argv, env)


# --- nightly, status, results ----------------------------------------------------------------------------------


def nightly(
    roots: Annotated[list[Path] | None, typer.Argument(help="Archive roots (default DOCSUM_NIGHTLY_ROOTS).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the summaries (always, when embedded).")] = True,
) -> None:
    """The nightly bulk run now: ingest new or changed files, summarize every document lacking a summary for the
    current model, as a batch named 'nightly YYYY-MM-DD'."""
    from docsum.client import Client
    from docsum.config import get_settings

    console = _console()
    roots = roots or [Path(r) for r in get_settings().nightly_roots]
    if not roots:
        raise _fail("no archive roots: pass ROOT... or set DOCSUM_NIGHTLY_ROOTS")
    with Client() as client:
        try:
            outcome = client.nightly(roots)
        except FileNotFoundError as error:
            raise _fail(str(error)) from None
        console.print(
            f"nightly batch {outcome.batch_id}: {outcome.files} files ({outcome.ingested} new, {outcome.duplicates} "
            f"unchanged, {outcome.failed} failed)"
        )
        if not outcome.to_summarize:
            console.print("nothing to summarize")
            _print_report(client.status(outcome.batch_id), console)
            return
        console.print(f"{len(outcome.to_summarize)} documents to summarize")
        if wait or client.app.embedded:
            _print_report(_progress_loop(client, outcome.batch_id, console), console)


def _require_schema() -> None:
    """Reading commands never create a database: an empty one is an error, not a fresh schema."""
    from sqlalchemy.engine import make_url

    from docsum.config import get_settings
    from docsum.db.migrate import current
    from docsum.outages import DatabaseNotSetUp

    url = get_settings().database_url
    if current(url) is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseNotSetUp(f"no docsum database at {shown} (`docsum run` or `docsum db upgrade` creates one)")


def status(batch_id: Annotated[int, typer.Argument(help="Batch id.")]) -> None:
    """Counts by state, ingest progress and throughput of a batch."""
    from docsum.client import Client

    _require_schema()
    with Client() as client:
        try:
            report = client.status(batch_id)
        except LookupError as error:
            raise _fail(str(error)) from None
        console = _stdout_console()
        from rich.markup import escape

        console.print(f"batch {report.batch_id} {escape(repr(report.name))} · model {report.model_id}")
        _print_report(report, console)


def results(
    batch_id: Annotated[int, typer.Argument(help="Batch id.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
) -> None:
    """Export a batch's results as JSON lines or CSV."""
    from docsum.client import Client, write_results

    _require_schema()
    with Client() as client:
        try:
            client.status(batch_id)
        except LookupError as error:
            raise _fail(str(error)) from None
        if out is None:
            write_results(client.results(batch_id), sys.stdout, fmt.value)
        else:
            with out.open("w", encoding="utf-8", newline="") as fh:
                n = write_results(client.results(batch_id), fh, fmt.value)
            _console().print(f"wrote {n} results to {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level app."""
    app.command()(run)
    app.command()(worker)
    app.command()(beat)
    app.command()(flower)
    app.command()(nightly)
    app.command()(status)
    app.command()(results)
