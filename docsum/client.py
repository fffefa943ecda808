"""`docsum.Client`: submit documents, follow batches, read results.

    from docsum import Client
    client = Client()                       # DOCSUM_* settings: Redis + PostgreSQL, or the embedded default
    batch = client.submit(["reports/", "paper.pdf"], name="q3 reports")   # a BatchHandle: an int with methods
    for record in batch.as_completed():     # each document as it finishes
        print(record.source_uri, record.summary or record.error)
    print(batch.wait())                     # one line: counts, files, time, docs/s

    print(client.summarize_text("Some text ..."))   # one string, here and now: no queue, no database

With DOCSUM_BROKER_URL set, work goes to the worker fleet through Redis. Unset (the embedded default), the client
migrates the SQLite database and runs a real Celery worker in a thread of this process, started on first submit and
stopped by `close()` (or leaving a `with Client() as client:` block).

The client is a thin face: what happens to batches is in `docsum.services`, how work moves is in `docsum.worker`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from docsum.config import Settings, get_settings
from docsum.errors import DatabaseNotSetUp, WaitTimeout, WorkerStopped
from docsum.services import batches, runs
from docsum.services.batches import BatchReport, ResultRecord
from docsum.services.database import is_set_up, set_up
from docsum.services.ingest import NotRead, find_files
from docsum.services.models import resolve_model
from docsum.services.owners import this_process
from docsum.worker.app import create_app
from docsum.worker.embedded import embedded_worker
from docsum.worker.tasks import CelerySender

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from docsum.services.nightly import NightlyOutcome
    from docsum.services.text import TextSummary

__all__ = ["BatchHandle", "Client", "collect_files"]


def _is_id(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _exists(path: str | Path) -> bool:
    try:
        return Path(path).expanduser().exists()
    except OSError:  # e.g. a name too long for the file system
        return False


def _looks_like_text(name: str) -> bool:
    return "\n" in name or len(name) > 255 or len(name.split()) > 8


def collect_files(paths: Iterable[str | Path]) -> list[str]:
    """Files named, or found under named directories (ingest's walking rules: sorted, hidden entries skipped), as
    absolute paths. Raises FileNotFoundError naming every missing path, before anything is submitted."""
    return collect_entries(paths)[0]


def collect_entries(paths: Iterable[str | Path]) -> tuple[list[str], list[NotRead]]:
    """(`collect_files`, [(absolute path, reason, class)] of the entries the walk did not read: links out of a
    walked directory, loops, dangling links, FIFOs, sockets, devices)."""
    paths = list(paths)
    if any(isinstance(p, str) and _looks_like_text(p) and not _exists(p) for p in paths):
        raise FileNotFoundError(
            "not found: a path was expected, and this looks like text; to summarize a string, call "
            "docsum.summarize(text) or Client.summarize_text(text)"
        )
    given = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in given if not _exists(p)]
    if missing:
        raise FileNotFoundError(f"not found: {', '.join(missing)}")
    return find_files(given)


# A waiting client's polls may keep the database busy for at most this share of the time: counting the jobs of a
# batch of a million takes PostgreSQL about 0.1 s, which every half second would be a fifth of a core per watcher.
POLL_BUSY_SHARE = 0.1


def poll_pause(poll_interval: float, poll_seconds: float, deadline: float | None = None) -> float:
    """Seconds to sleep after a poll that took `poll_seconds`: `poll_interval`, stretched so that polling costs at
    most POLL_BUSY_SHARE of the time, and never past `deadline` (time.monotonic)."""
    pause = max(poll_interval, poll_seconds / POLL_BUSY_SHARE)
    return pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic()))


class BatchHandle(int):
    """What `Client.submit` returns: the batch id (an `int`, usable wherever an id is), with the client's methods
    bound to it: `batch.wait()`, `batch.status()`, `batch.results()`, `batch.cancel()`, `batch.retry_failed()`,
    `batch.as_completed()`."""

    client: Client

    def __new__(cls, batch_id: int, client: Client) -> BatchHandle:
        handle = super().__new__(cls, batch_id)
        handle.client = client
        return handle

    @property
    def id(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"BatchHandle({int(self)})"

    def __str__(self) -> str:
        return str(int(self))  # f"batch {batch}" reads 'batch 7', as with the plain id

    def __reduce__(self) -> tuple[type[int], tuple[int]]:
        return int, (int(self),)  # pickles (and copies) as the plain id: the client does not travel

    def status(self) -> BatchReport:
        return self.client.status(self)

    def wait(
        self,
        timeout: float | None = None,
        progress: Callable[[BatchReport], None] | None = None,
        poll_interval: float = 0.5,
    ) -> BatchReport:
        return self.client.wait(self, timeout=timeout, progress=progress, poll_interval=poll_interval)

    def results(self) -> Iterator[ResultRecord]:
        return self.client.results(self)

    def as_completed(self, timeout: float | None = None, poll_interval: float = 0.5) -> Iterator[ResultRecord]:
        return self.client.as_completed(self, timeout=timeout, poll_interval=poll_interval)

    def cancel(self) -> int:
        return self.client.cancel(self)

    def retry_failed(self) -> int:
        return self.client.retry_failed(self)


class Client:
    """Submit, follow and read batches. Reads the same settings as the workers."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.app = create_app(self.settings)
        self._stack = ExitStack()
        self._sender = CelerySender(self.app, before_send=self._ensure_worker)  # the embedded worker starts on demand
        self._worker = None  # the embedded worker, once started
        self._schema_checked = False
        if self.app.embedded:
            set_up(self.settings.database_url)  # the embedded default sets itself up
            self._schema_checked = True

    def _require_schema(self) -> None:
        """With a broker, the database is shared with the worker fleet and set up once, by `docsum db upgrade`: a
        client never creates it (nor leaves an empty SQLite file behind), it says what to run."""
        if self._schema_checked:
            return
        if not is_set_up(self.settings.database_url):
            from sqlalchemy.engine import make_url

            shown = make_url(self.settings.database_url).render_as_string(hide_password=True)
            raise DatabaseNotSetUp(
                f"no docsum database at {shown}: run `docsum db upgrade` once, with the same DOCSUM_DATABASE_URL "
                "(with DOCSUM_BROKER_URL set, the database is shared with the workers and not created on first use)"
            )
        self._schema_checked = True

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self.app.session_factory

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self.app.embedded and self._worker is None:
            self._worker = self._stack.enter_context(embedded_worker(self.app))

    def close(self) -> None:
        """Stop the embedded worker, if one runs (a task in progress finishes first)."""
        self._stack.close()
        self._worker = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submit ---------------------------------------------------------------------------------------------------
    def submit(
        self,
        paths_or_document_ids: str | Path | int | Sequence[str | Path] | Sequence[int],
        name: str | None = None,
        model: str | None = None,
        k: int | None = None,
        force: bool = False,
    ) -> BatchHandle:
        """Create a batch and enqueue its work; returns its handle (an int: the batch id).

        Paths (files and directories, walked here) go through the ingest queue in chunks of ingest_chunk_size
        files; document ids already stored get their jobs at once, enqueued in chunks of chunk_size. `k` defaults
        to DOCSUM_SUMMARY_SENTENCES. A document that already has a summary from the same model and parameters is not
        summarized again (its job succeeds at once and shows that summary), unless `force`: then the new summary
        replaces it.
        """
        items = (
            [paths_or_document_ids]
            if isinstance(paths_or_document_ids, (str, Path, int))
            else list(paths_or_document_ids)
        )
        if not items:
            raise ValueError("nothing to submit: give paths or document ids")
        params = batches.job_params(k or self.settings.summary_sentences)
        skipped: list[NotRead] = []
        if all(_is_id(i) for i in items):
            files: list[str] = []
            kind = "documents"
        elif all(isinstance(i, (str, Path)) for i in items):
            files, skipped = collect_entries(items)  # type: ignore[arg-type]
            if not files and not skipped:
                raise ValueError(f"no files found under {', '.join(map(str, items))}")
            kind = "files"
        else:
            raise TypeError("submit takes paths or document ids, not a mix")
        self._require_schema()
        model_ref = resolve_model(self.settings, model, keep=self.app.embedded)
        name = name or f"{kind} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"

        extra: dict[str, object] = {"force": True} if force else {}
        if files:  # workers read only files under these (a message naming another path is refused)
            extra["roots"] = [str(Path(i).expanduser().resolve()) for i in items]
        if self.app.embedded:  # this process is the batch's only worker: a later run can tell when it is gone
            extra["owner"] = this_process()
        batch_id = runs.submit(
            self.session_factory,
            self.settings,
            self._sender,
            name,
            model_ref,
            params,
            files=files,
            skipped=skipped,  # entries not read: the batch's failed documents, each with its reason
            documents=[] if files else items,  # type: ignore[arg-type]
            **extra,
        )
        return BatchHandle(batch_id, self)

    def close_interrupted(self) -> list[tuple[int, int]]:
        """Close the running batches whose embedded process is gone (killed, crashed): their unfinished jobs are
        cancelled, what they summarized stays. Returns (batch id, jobs cancelled) per batch closed."""
        self._require_schema()
        with self.session_factory.begin() as session:
            return batches.close_interrupted(session)

    def resume(self, batch_id: int) -> BatchHandle:
        """Finish the work of a batch whose embedded process died: the batch is closed (as `docsum run` closes it)
        and its paths are submitted again as a new batch with the same summary length. A document summarized before,
        by it or any batch, with the same model is not summarized again. Returns the new batch's handle. Raises
        BatchNotFound, and ValueError for a batch that was not interrupted or kept no paths."""
        batch_id = int(batch_id)
        self.close_interrupted()
        with self.session_factory() as session:
            batch = batches.get_batch(session, batch_id)
            params, name = dict(batch.params or {}), batch.name
        if not params.get("interrupted"):
            raise ValueError(f"batch {batch_id} was not interrupted: nothing to resume")
        roots = params.get("roots")
        if not roots:
            raise ValueError(f"batch {batch_id} keeps no paths to read again (it was not made from files)")
        return self.submit(
            roots, name=f"{name} (resumes batch {batch_id})", k=params.get("k"), force=bool(params.get("force"))
        )

    def batch(self, batch_id: int) -> BatchHandle:
        """The handle of an existing batch. Raises BatchNotFound."""
        self.status(batch_id)
        return BatchHandle(int(batch_id), self)

    def batches(self, limit: int = 20) -> list[BatchReport]:
        """The newest batches first, with their live counts."""
        with self.session_factory() as session:
            return batches.recent_batches(session, limit)

    # --- one text, here and now -----------------------------------------------------------------------------------
    def summarize_text(
        self, text_or_texts: str | Sequence[str], k: int | None = None, model: str | None = None, **options: object
    ) -> TextSummary | list[TextSummary]:
        """Summarize a string (or a list of strings) in this process, without a queue or the database: the text path
        of ingest and this client's settings (model, device, token budget). See `docsum.summarize`."""
        from docsum.services.text import summarize

        return summarize(text_or_texts, k, model=model, settings=self.settings, **options)  # type: ignore[arg-type]

    def summarize_file(
        self, source: str | Path | bytes, k: int | None = None, model: str | None = None, **options: object
    ) -> TextSummary:
        """Summarize one file (a path, or its bytes) in this process as `submit` would, without a queue or the
        database, with this client's settings. See `docsum.summarize_file`."""
        from docsum.services.text import summarize_file

        return summarize_file(source, k, model=model, settings=self.settings, **options)  # type: ignore[arg-type]

    def nightly(self, roots: Sequence[str | Path], model: str | None = None, k: int | None = None) -> NightlyOutcome:
        """The nightly bulk run, started here: scan the roots, send new and changed files to the ingest workers and
        stored documents lacking a summary to the summarize workers (see services.nightly)."""
        missing = [str(r) for r in roots if not Path(r).exists()]
        if missing:
            raise FileNotFoundError(f"not found: {', '.join(missing)}")
        params = batches.job_params(k or self.settings.summary_sentences)
        self._require_schema()
        model_ref = resolve_model(self.settings, model, keep=self.app.embedded)
        return runs.start_nightly(self.session_factory, self.settings, self._sender, roots, model_ref, params)

    # --- follow ---------------------------------------------------------------------------------------------------
    def status(self, batch_id: int) -> BatchReport:
        """The batch as of now. Raises BatchNotFound."""
        with self.session_factory() as session:
            return batches.batch_report(session, int(batch_id))

    def _check_worker(self, batch_id: int) -> None:
        """Raise what stopped this process's worker: an error no retry cures (DatabaseUnwritable), or its end."""
        if self._worker is None:
            return
        if self.app.fatal_error is not None:
            raise self.app.fatal_error
        if not self._worker.alive:
            raise WorkerStopped(f"the embedded worker stopped before batch {batch_id} finished (see the log above)")

    def _finish_if_done(self, batch_id: int) -> bool:
        return runs.finish_if_done(self.session_factory, self.settings, batch_id)

    def wait(
        self,
        batch_id: int,
        timeout: float | None = None,
        progress: Callable[[BatchReport], None] | None = None,
        poll_interval: float = 0.5,
        progress_every_poll: bool = False,
    ) -> BatchReport:
        """Block until the batch is finished or cancelled (finishing it if this call sees the last job end).

        `progress` is called with the batch's report when it changes (status, files, job counts), so
        `progress=print` prints a line per change; `progress_every_poll` calls it on every poll instead (a live
        display with a clock). Raises WaitTimeout (a TimeoutError) after `timeout` seconds; the batch keeps running.
        BatchNotFound for an unknown id.
        """
        shown: tuple[object, ...] | None = None
        for report in self._polls(int(batch_id), timeout, poll_interval):
            state = (report.status, report.files_done, report.files_total, tuple(sorted(report.counts.items())))
            if progress is not None and (progress_every_poll or state != shown):
                shown = state
                progress(report)
        return report

    def _polls(
        self, batch_id: int, timeout: float | None, poll_interval: float, look: Callable[[], bool] | None = None
    ) -> Iterator[BatchReport]:
        """The one poll loop of a waiting client: the batch's report after each poll, up to the first that shows it
        ended. `look` is a further read per poll (after the report: a batch seen ended has nothing left to change);
        when it finds news, the next poll comes without a pause. Finishes the batch when a poll sees its last work
        end; raises what stopped this process's worker, and WaitTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            polled = time.monotonic()
            report = self.status(batch_id)
            news = look() if look is not None else False
            polled = time.monotonic() - polled
            yield report
            if report.status != "running":
                return
            if report.complete:
                self._finish_if_done(batch_id)
                continue
            self._check_worker(batch_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"batch {batch_id} not finished after {timeout} s: files {report.files_done}/{report.files_total}, "
                    f"jobs {report.counts}"
                )
            if not news:
                time.sleep(poll_pause(poll_interval, polled, deadline))

    # --- results and control --------------------------------------------------------------------------------------
    def results(self, batch_id: int) -> Iterator[ResultRecord]:
        """One record per document of the batch, in job order (streamed from the database). Raises BatchNotFound
        here, at the call, for an unknown id."""
        batch_id = int(batch_id)
        self.status(batch_id)
        return self._results(batch_id)

    def _results(self, batch_id: int, job_ids: Sequence[int] | None = None) -> Iterator[ResultRecord]:
        with self.session_factory() as session:
            yield from batches.batch_results(session, batch_id, job_ids)

    def as_completed(
        self, batch_id: int, timeout: float | None = None, poll_interval: float = 0.5
    ) -> Iterator[ResultRecord]:
        """Records of the batch's documents as they finish (succeeded, failed or cancelled), each once, until the
        batch is finished or cancelled. Raises BatchNotFound at the call; WaitTimeout after `timeout` seconds."""
        batch_id = int(batch_id)
        self.status(batch_id)
        return self._as_completed(batch_id, timeout, poll_interval)

    def _as_completed(self, batch_id: int, timeout: float | None, poll_interval: float) -> Iterator[ResultRecord]:
        # Each poll reads only the jobs made final since the last (a commit-ordered marker); `seen` keeps a job
        # retried meanwhile (retry_failed) from coming out twice.
        seen: set[int] = set()
        new: list[int] = []
        marker = 0

        def look() -> bool:
            nonlocal marker
            with self.session_factory() as session:
                ids, marker = batches.final_since(session, batch_id, marker)
            new[:] = [i for i in ids if i not in seen]
            return bool(new)

        for _report in self._polls(batch_id, timeout, poll_interval, look):
            for start in range(0, len(new), 500):
                part = new[start : start + 500]
                yield from self._results(batch_id, part)
                seen.update(part)

    def cancel(self, batch_id: int) -> int:
        """Cancel the batch: queued and running jobs become cancelled and workers skip them. Returns how many.
        Idempotent: 0 for a batch already cancelled or finished. Raises BatchNotFound."""
        with self.session_factory.begin() as session:
            return batches.cancel_batch(session, int(batch_id))

    def write_report(self, batch_id: int, out: str | Path) -> Path:
        """Write the batch's HTML report (counts, speed, failures by class and reason, every summary) to `out`."""
        from docsum.services.report import write_report

        with self.session_factory() as session:
            return write_report(session, int(batch_id), out)

    def queue_consumers(self, timeout: float = 1.0) -> dict[str, int] | None:
        """How many workers consume each queue, by asking them (None when embedded: the worker is this process)."""
        if self.app.embedded:
            return None
        replies = self.app.control.inspect(timeout=timeout).active_queues() or {}
        counts = {q.name: 0 for q in self.app.conf.task_queues}
        for queues in replies.values():
            for queue in queues:
                if queue.get("name") in counts:
                    counts[queue["name"]] += 1
        return counts

    def retry_failed(self, batch_id: int) -> int:
        """Put the batch's failed jobs back in the queue. Returns how many were re-enqueued. Raises BatchNotFound,
        BatchCancelled."""
        return runs.retry_failed(self.session_factory, self.settings, self._sender, int(batch_id))
