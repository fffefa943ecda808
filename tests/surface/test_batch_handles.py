"""Batch handles on the embedded default (SQLite, a real Celery worker in this process): what `submit` returns, the
public exceptions, results streamed as documents finish, idempotent cancel, one-line reports."""

from __future__ import annotations

import itertools
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import docsum
from docsum.client import POLL_BUSY_SHARE, BatchHandle, Client, poll_pause
from docsum.config import Settings
from docsum.db.session import session_scope
from docsum.services import batches
from docsum.services.models import resolve_model

TEXTS = {
    "harbour.txt": "The committee met on Tuesday to discuss the harbour plan in detail. Members asked for more data on "
    "shipping traffic before any vote. A second meeting is planned for the end of the month.",
    "museum.txt": "The museum extended its opening hours for the summer season. Visitors can now enter until nine in "
    "the evening. The change follows a survey in which most members asked for later visits.",
    "storm.txt": "The weather service issued a storm warning for the coast on Friday. Winds may reach ninety "
    "kilometres an hour. Ferries to the islands were cancelled and schools will close early.",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docsum.db'}", device="cpu", store_every=1)
    with Client(settings) as client:
        yield client


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name, text in TEXTS.items():
        (folder / name).write_text(text)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    return folder


def test_submit_returns_a_handle_that_is_also_the_id(client: Client, inputs: Path) -> None:
    batch = client.submit([inputs], name="handles", k=1)
    assert isinstance(batch, BatchHandle) and isinstance(batch, int) and batch.id == int(batch) == 1
    assert repr(batch) == "BatchHandle(1)" and pickle.loads(pickle.dumps(batch)) == 1
    assert f"batch {batch}" == "batch 1" and str(batch) == "1" and f"{batch:03d}" == "001"

    lines: list[str] = []
    report = batch.wait(timeout=180, progress=lambda r: lines.append(str(r)))
    assert report.status == "finished" and report.counts["succeeded"] == 3 and report.counts["failed"] == 1
    # One line per call, that says what a person wants to know.
    assert lines and all("\n" not in line for line in lines)
    assert lines[-1].startswith("batch 1 'handles' finished: 4/4 done (3 succeeded, 1 failed, 0 cancelled, 0 running)")
    assert "files 4/4" in lines[-1] and "docs/s" in lines[-1]

    # Ints keep working everywhere a batch is expected, and give the same answers.
    assert client.status(1) == batch.status() == client.status(batch)
    assert [r.to_dict() for r in client.results(1)] == [r.to_dict() for r in batch.results()]
    streamed = list(batch.as_completed(timeout=30))
    assert sorted(r.job_id for r in streamed) == sorted(r.job_id for r in batch.results())
    assert {Path(r.source_uri).name: r.status for r in streamed}["broken.pdf"] == "failed"

    # Cancel is idempotent: a finished batch has nothing to cancel, twice.
    assert batch.cancel() == 0 and batch.cancel() == 0 and batch.status().status == "finished"
    # The broken file still cannot be read: its retry fails again at once, with its reason.
    assert batch.retry_failed() == 0
    assert batch.wait(timeout=30).counts["failed"] == 1
    assert client.batch(1) == batch and [r.batch_id for r in client.batches()] == [1]


def test_as_completed_yields_each_document_once_as_it_finishes(client: Client, inputs: Path) -> None:
    batch = client.submit([inputs], k=2)
    seen = []
    for record in client.as_completed(batch, timeout=180, poll_interval=0.1):
        assert record.status in ("succeeded", "failed")
        # When a record arrives, its document is final in the database already.
        assert record.job_id in {r.job_id for r in client.results(batch) if r.status in ("succeeded", "failed")}
        seen.append(record.job_id)
    assert len(seen) == len(set(seen)) == 4
    assert client.status(batch).status == "finished"


def test_unknown_batches_raise_the_public_exception_at_the_call(client: Client) -> None:
    for call in (
        client.status,
        client.results,
        client.as_completed,
        client.cancel,
        client.retry_failed,
        client.batch,
        client.wait,
    ):
        with pytest.raises(docsum.BatchNotFound, match="batch 999 does not exist") as caught:
            call(999)  # raised by the call itself, not on the first next() of a generator
        assert isinstance(caught.value, docsum.DocsumError) and isinstance(caught.value, LookupError)


def test_cancelled_batch_cancel_again_and_retry(client: Client, inputs: Path) -> None:
    first = client.submit([inputs], k=1)
    first.wait(timeout=180)
    ids = [r.document_id for r in first.results() if r.status == "succeeded"]
    # A batch whose jobs are queued but never sent to a worker: it stays running until cancelled.
    with session_scope(client.session_factory) as session:
        # force: these documents have summaries from this model, which would settle their new jobs at once.
        created = batches.create_batch(
            session, "queued", resolve_model(client.settings), batches.job_params(1), force=True
        )
        batches.add_jobs(session, created, ids)
        batch_id = created.id
    handle = client.batch(batch_id)
    assert handle.cancel() == 3
    assert handle.cancel() == 0  # idempotent
    assert handle.status().status == "cancelled" and handle.status().counts["cancelled"] == 3
    with pytest.raises(docsum.BatchCancelled, match=f"batch {batch_id} is cancelled"):
        handle.retry_failed()
    assert list(handle.as_completed(timeout=5))  # a cancelled batch's records come out, then the loop ends


def test_wait_timeout_is_a_timeout_error(client: Client, inputs: Path) -> None:
    batch = client.submit([inputs], k=1)
    with pytest.raises(docsum.WaitTimeout) as caught:
        batch.wait(timeout=0)
    assert isinstance(caught.value, TimeoutError) and f"batch {batch.id} not finished" in str(caught.value)
    batch.wait(timeout=180)


def test_polls_stretch_with_their_cost_and_stop_at_the_deadline() -> None:
    assert poll_pause(0.5, 0.01) == 0.5  # a cheap poll: the interval asked for
    # A poll of a huge batch that took 0.3 s waits long enough that polling keeps the database busy a tenth of the time.
    assert poll_pause(0.5, 0.3) == pytest.approx(0.3 / POLL_BUSY_SHARE)
    assert 0.0 < poll_pause(0.5, 0.3, time.monotonic() + 1.0) <= 1.0  # but not past the caller's timeout
    assert poll_pause(0.5, 0.3, time.monotonic() - 1.0) == 0.0


def test_wait_reports_progress_only_when_it_changes(client: Client, inputs: Path) -> None:
    batch = client.submit([inputs], k=1)
    seen: list[tuple[object, ...]] = []

    def progress(report: docsum.BatchReport) -> None:
        seen.append((report.status, report.files_done, tuple(sorted(report.counts.items()))))

    # Polled far faster than the batch moves: an unchanged batch is not reported again.
    report = batch.wait(timeout=180, progress=progress, poll_interval=0.01)
    assert report.status == "finished" and seen[-1][0] == "finished"
    assert all(a != b for a, b in itertools.pairwise(seen)), seen
    assert len(seen) <= 2 + 4 * len(TEXTS) + 4  # a start, a few changes per document, the end
