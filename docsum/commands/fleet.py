"""The processes of a fleet: `docsum worker`, `docsum beat` and `docsum flower`, each on the broker of the settings."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docsum.commands.common import err_console, fail, require_broker
from docsum.cpus import usable_cpus

if TYPE_CHECKING:
    from docsum.config import Settings


class QueueName(StrEnum):
    ingest = "ingest"
    summarize = "summarize"


class Pool(StrEnum):
    prefork = "prefork"
    solo = "solo"
    threads = "threads"


def worker(
    queue: Annotated[QueueName, typer.Option("--queue", "-Q", help="ingest (CPU) or summarize (GPU).")],
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Default: 1 for summarize; for ingest, the CPUs this process may use (affinity, CPU limit).",
        ),
    ] = None,
    pool: Annotated[
        Pool | None, typer.Option("--pool", "-P", help="Default: prefork for ingest, solo for summarize.")
    ] = None,
    hostname: Annotated[str | None, typer.Option("--hostname", "-n", help="Node name (default QUEUE@%h).")] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
) -> None:
    """A Celery worker on one queue, with task events on (for Flower).

    Run one summarize worker per GPU (pin it with CUDA_VISIBLE_DEVICES or DOCSUM_DEVICE); it loads the model
    once, on its first task, in its own process.
    """
    require_broker()
    if queue == QueueName.summarize:
        pool = pool or Pool.solo
        if pool == Pool.prefork:
            raise fail(
                "summarize workers must not fork (CUDA cannot be re-initialised in a forked child): use --pool solo"
            )
        concurrency = concurrency or 1
    else:
        pool = pool or Pool.prefork
        concurrency = concurrency or usable_cpus()
    from docsum.config import get_settings

    metrics_port = get_settings().metrics_port
    if metrics_port and pool == Pool.prefork:
        # Tasks run in forked children: their counters go to files in a folder of this worker's own, which the
        # server adds up. Set before prometheus-client is first imported (it picks its mode then).
        import atexit
        import shutil
        import tempfile

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            folder = tempfile.mkdtemp(prefix="docsum-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
            atexit.register(shutil.rmtree, folder, True)
    from docsum.worker.app import app

    if metrics_port:
        from celery.signals import worker_process_shutdown

        from docsum.worker.metrics import process_exited, serve

        serve(app, metrics_port)  # before the pool forks: one server per worker
        worker_process_shutdown.connect(lambda pid=None, **_: process_exited(pid or os.getpid()), weak=False)
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
    schedule: Annotated[
        Path | None,
        typer.Option(
            help="Beat's state file (default: celerybeat-schedule in docsum's data directory, wherever beat "
            "is started from)."
        ),
    ] = None,
) -> None:
    """Celery beat: sends the nightly bulk run (DOCSUM_NIGHTLY_CRON over DOCSUM_NIGHTLY_ROOTS)."""
    require_broker()
    from docsum.config import get_settings

    settings = get_settings()
    if not settings.nightly_roots:
        raise fail('DOCSUM_NIGHTLY_ROOTS is empty: set it to a JSON list of archive roots, e.g. ["/data/archive"]')
    from docsum.config import DATA_DIR
    from docsum.worker.app import app

    schedule = schedule or DATA_DIR / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    err_console().print(f"nightly run at cron {settings.nightly_cron!r} (UTC) over {', '.join(settings.nightly_roots)}")
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


# The tasks page shows each task's description (e.g. "batch 7: jobs 1-64 (64 docs)") beside its state and runtime.
FLOWER_TASKS_COLUMNS = "name,uuid,state,args,result,received,started,runtime,worker,retries,exception"


def flower_options(settings: Settings) -> list[str]:
    """Flower's options beyond the address: the task columns, and runtime histogram buckets reaching the visibility
    timeout (a summarize chunk takes minutes; Flower's default buckets stop at 10 s)."""
    from docsum.worker.metrics import chunk_buckets

    buckets = ",".join(f"{b:g}" for b in chunk_buckets(settings))
    return [f"--tasks-columns={FLOWER_TASKS_COLUMNS}", f"--task-runtime-metric-buckets={buckets}"]


def flower(
    address: Annotated[str | None, typer.Option(help="Listen address (default settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 5555).")] = None,
) -> None:
    """Flower, the live task monitor, on the same broker. Beyond loopback it requires DOCSUM_FLOWER_BASIC_AUTH."""
    require_broker()
    from docsum.config import get_settings, is_loopback

    settings = get_settings()
    address = settings.flower_address if address is None else address
    port = settings.flower_port if port is None else port
    auth = settings.flower_basic_auth  # its form is checked by Settings
    if not is_loopback(address) and not auth:
        raise fail(
            f"refusing to serve Flower on {address or 'all interfaces'} without authentication (anyone who can reach "
            "it could see and revoke tasks, CVE-2022-30034). Set DOCSUM_FLOWER_BASIC_AUTH=user:password, or listen "
            "on 127.0.0.1."
        )
    env = dict(os.environ)
    env.pop("FLOWER_BASIC_AUTH", None)
    if auth:
        # Flower reads any option from FLOWER_<NAME>; the environment, unlike argv, is not visible in `ps`.
        env["FLOWER_BASIC_AUTH"] = auth
    argv = [
        sys.executable,
        "-m",
        "celery",
        "--app=docsum.worker.app",
        "flower",
        f"--address={address}",
        f"--port={port}",
        *flower_options(settings),
    ]
    err_console().print(f"Flower on http://{address}:{port}/ ({'basic auth' if auth else 'no auth, loopback only'})")
    os.execve(sys.executable, argv, env)


def register(app: typer.Typer) -> None:
    """Add `docsum worker`, `docsum beat` and `docsum flower`."""
    app.command()(worker)
    app.command()(beat)
    app.command()(flower)
