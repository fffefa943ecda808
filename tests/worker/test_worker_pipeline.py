"""End to end on the real stack: Client → Redis → `docsum worker` processes (ingest prefork, summarize solo) →
PostgreSQL, watched by a real Flower. The workers are shared by the tests of this module."""

from __future__ import annotations

import csv
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from fleet_harness import DOCSUM, Fleet, copy_inputs, make_fleet, teardown, wait_for
from servers import free_port
from sqlalchemy import func, select

from docsum.client import Client
from docsum.config import Settings
from docsum.db.models import Batch, Document, Job, Summary
from docsum.db.session import session_scope
from docsum.ingest.pipeline import ingest_paths
from docsum.services import batches
from docsum.services.models import resolve_model
from docsum.worker.tasks import enqueue_summarize

AUTH = ("ops", "s3cret-test")
WAIT_S = 240


@pytest.fixture(scope="module")
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = make_fleet(request.config, tmp_path_factory.mktemp("fleet"))
    try:
        fleet.flower_port = free_port()
        # Flower first: it only sees the events of tasks sent while it listens.
        fleet.start_flower(fleet.flower_port, f"{AUTH[0]}:{AUTH[1]}")
        fleet.start_worker("ingest", "ingest")
        fleet.start_worker("summarize", "summarize")
        yield fleet
    finally:
        teardown(request.config, fleet)


@pytest.fixture(scope="module")
def client(fleet: Fleet) -> Iterator[Client]:
    with Client(Settings(database_url=fleet.db_url, broker_url=fleet.broker_url, device="cpu")) as client:
        yield client


def flower_tasks(fleet: Fleet) -> dict[str, dict]:
    response = requests.get(f"http://127.0.0.1:{fleet.flower_port}/api/tasks", auth=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()


def test_directory_through_workers_to_results(fleet: Fleet, client: Client, shared_data: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    copy_inputs(shared_data, inputs, pdfs=["issue-33-lorem-ipsum.pdf", "scotus-transcript-p1.pdf"], texts=2, html=1)
    corrupt = inputs / "truncated.pdf"
    corrupt.write_bytes((shared_data / "pdf_samples" / "files" / "issue-33-lorem-ipsum.pdf").read_bytes()[:2000])

    batch_id = client.submit([inputs], name="e2e")
    seen: list[int] = []
    report = client.wait(batch_id, timeout=WAIT_S, progress=lambda r: seen.append(r.done), poll_interval=0.3)
    assert report.status == "finished", fleet.log("ingest") + fleet.log("summarize")
    assert report.files_done == report.files_total == 6
    assert report.counts["succeeded"] == 5 and report.counts["failed"] == 1
    assert seen and seen[-1] == 6 and report.docs_per_s > 0

    records = {Path(r.source_uri).name: r for r in client.results(batch_id)}
    assert records["truncated.pdf"].status == "failed"
    assert "corrupt" in records["truncated.pdf"].error.lower() and records["truncated.pdf"].summary == []
    with client.session_factory() as session:
        for name, record in records.items():
            if name == "truncated.pdf":
                continue
            assert record.status == "succeeded", (name, record.error)
            document = session.get(Document, record.document_id)
            # The summary cites sentences of the stored document, in document order.
            assert record.indices == sorted(record.indices) and 1 <= len(record.indices) <= 3
            assert record.summary == [document.sentences[i] for i in record.indices]
            assert len(record.scores) == len(record.indices)
        assert session.scalar(select(func.count()).select_from(Summary)) == 5
        batch = session.get(Batch, batch_id)
        assert batch.n_succeeded == 5 and batch.n_failed == 1 and batch.finished_at is not None
        hosts = {j.worker_host for j in session.scalars(select(Job).where(Job.batch_id == batch_id)) if j.worker_host}
        assert all(h.startswith("summarize@") for h in hosts) and hosts

    # Flower shows what each ingest task handled and which file failed, with its reason (the task's result).
    def ingest_results() -> list[str]:
        tasks = flower_tasks(fleet).values()
        return [
            t.get("result") or ""
            for t in tasks
            if t["name"] == "docsum.ingest_files" and str(t.get("args", "")).startswith(f"batch {batch_id}:")
        ]

    def finished_results() -> list[str]:
        results = ingest_results()
        return results if results and all(results) else []

    results = wait_for(finished_results, 30, "flower results")
    assert sum(int(re.search(r"'failed': (\d+)", r).group(1)) for r in results) == 1, results
    assert any("truncated.pdf" in r and "corrupt" in r.lower() for r in results), results


def test_flower_api_lists_the_tasks(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text(
        "The port authority reported record container traffic in the third quarter. Volumes rose by nine percent "
        "compared with last year. Officials credited the new rail link to the inland terminals for the growth."
    )
    batch_id = client.submit([tmp_path], name="flower")
    assert client.wait(batch_id, timeout=WAIT_S).counts["succeeded"] == 1
    (job_id,) = [r.job_id for r in client.results(batch_id)]

    assert requests.get(f"http://127.0.0.1:{fleet.flower_port}/api/tasks", timeout=10).status_code == 401

    def this_batch() -> list[tuple[str, str]]:
        done = [(t["name"], t["args"]) for t in flower_tasks(fleet).values() if t.get("state") == "SUCCESS"]
        return [
            (n, a) for n, a in done if a in (f"batch {batch_id}: 1 file", f"batch {batch_id}: job {job_id} (1 doc)")
        ]

    # Flower lists each task by name, with readable arguments (argsrepr) naming the batch, once the worker's events
    # arrive.
    tasks = wait_for(lambda: len(this_batch()) == 2 and this_batch(), 30, "flower task events")
    assert sorted(tasks) == [
        ("docsum.ingest_files", f"batch {batch_id}: 1 file"),
        ("docsum.summarize_chunk", f"batch {batch_id}: job {job_id} (1 doc)"),
    ]
    results = {
        t["name"]: t.get("result") or "" for t in flower_tasks(fleet).values() if (t["name"], t["args"]) in tasks
    }
    assert "'ingested': 1" in results["docsum.ingest_files"] and "'failed': 0" in results["docsum.ingest_files"]
    assert "'succeeded': 1" in results["docsum.summarize_chunk"], results
    # The tasks page shows the arguments column (docsum flower sets tasks_columns).
    page = requests.get(f"http://127.0.0.1:{fleet.flower_port}/tasks", auth=AUTH, timeout=10).text
    assert 'data-column="args"' in page and 'data-column="runtime"' in page


def test_nightly_twice_second_run_enqueues_nothing(
    fleet: Fleet, client: Client, shared_data: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    copy_inputs(shared_data, archive / "2026", pdfs=["jo.pdf"], texts=0, html=0)
    (archive / "notes.txt").write_text(
        "The archive holds the minutes of every board meeting since 1998. Each file was scanned and checked by hand. "
        "Researchers asked for summaries so that they can find meetings about budgets. The nightly job adds new files."
    )
    env = fleet.process_env()

    def summarize_tasks_seen() -> int:
        return sum(1 for t in flower_tasks(fleet).values() if t["name"] == "docsum.summarize_chunk")

    first = subprocess.run([DOCSUM, "nightly", str(archive)], env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert first.returncode == 0, first.stderr
    assert "2 new" in first.stderr and "2 files to ingest" in first.stderr and "finished" in first.stderr, first.stderr
    wait_for(lambda: summarize_tasks_seen() > 0, 30, "the first run's summarize task in Flower")
    before = summarize_tasks_seen()

    second = subprocess.run([DOCSUM, "nightly", str(archive)], env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert second.returncode == 0, second.stderr
    assert "nothing to summarize" in second.stderr and "0 new, 0 changed, 2 unchanged" in second.stderr, second.stderr
    assert redis.Redis.from_url(fleet.broker_url).llen("summarize") == 0

    # What beat sends: the same run as a task on the ingest workers.
    (archive / "late.txt").write_text(
        "A late addition arrived after the first two runs had finished. It describes the renovation of the archive "
        "reading room in great detail. The nightly task must pick it up and summarize only this new document."
    )
    client.app.tasks["docsum.nightly"].delay([str(archive)])

    def nightly_batches() -> list[Batch]:
        with client.session_factory() as session:
            return list(session.scalars(select(Batch).where(Batch.name.like("nightly %")).order_by(Batch.id)))

    wait_for(
        lambda: len(nightly_batches()) == 3 and nightly_batches()[2].status == "finished", WAIT_S, "the nightly task"
    )
    assert summarize_tasks_seen() == before + 1
    first_batch, second_batch, task_batch = nightly_batches()
    assert first_batch.n_succeeded == 2 and second_batch.files_total == 0 and second_batch.status == "finished"
    assert second_batch.params["scan"] == {
        "seen": 2,
        "skipped": 2,
        "new": 0,
        "changed": 0,
        "deleted": 0,
        "unreadable": 0,
    }
    # The task's run read only the new file.
    assert task_batch.files_total == 1 and task_batch.n_succeeded == 1
    assert task_batch.params["scan"]["new"] == 1 and task_batch.params["scan"]["skipped"] == 2
    with client.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.batch_id == second_batch.id)) == 0


def test_cancel_through_the_client_and_workers_skip(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"memo{i}.txt").write_text(
            f"Memo {i}: the committee met on Tuesday to discuss the harbour plan in detail. Members asked for more "
            "data on shipping traffic before any vote. A second meeting is planned for the end of the month."
        )
    report = ingest_paths(client.session_factory, [tmp_path], client.settings)
    document_ids = [item.document_id for item in report.items]
    node = f"summarize@{socket.gethostname()}"
    # Pause the summarize worker (Celery remote control), so that the jobs are still queued when we cancel.
    assert client.app.control.cancel_consumer("summarize", destination=[node], reply=True)
    try:
        batch_id = client.submit(document_ids, name="to cancel", k=1)
        assert client.cancel(batch_id) == 2
    finally:
        assert client.app.control.add_consumer("summarize", destination=[node], reply=True)
    assert client.status(batch_id).status == "cancelled"
    # The task is still delivered; the worker skips the cancelled jobs and writes nothing.
    wait_for(lambda: "(2 docs): 0 succeeded, 0 failed, 2 skipped" in fleet.log("summarize"), 60, "the skipped chunk")
    with client.session_factory() as session:
        cancelled = list(session.scalars(select(Job).where(Job.batch_id == batch_id)))
        assert {j.status for j in cancelled} == {"cancelled"} and all(j.attempts == 0 for j in cancelled)
        assert (
            session.scalar(
                select(func.count()).select_from(Summary).where(Summary.job_id.in_([j.id for j in cancelled]))
            )
            == 0
        )

    # The same documents again, k=1, through to the end.
    again = client.submit(document_ids, name="k=1", k=1)
    assert client.wait(again, timeout=WAIT_S).counts["succeeded"] == 2
    assert [len(r.indices) for r in client.results(again)] == [1, 1]


def test_client_refuses_bad_input(client: Client) -> None:
    with pytest.raises(FileNotFoundError, match="not found: /no/such/dir"):
        client.submit(["/no/such/dir"])
    with pytest.raises(TypeError):
        client.submit([1, "mixed.pdf"])
    with pytest.raises(LookupError, match="document 999999 does not exist"):
        client.submit([999999])
    with pytest.raises(ValueError, match="nothing to submit"):
        client.submit([])


def test_run_command_waits_for_the_fleet(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bulletin.txt").write_text(
        "The weather service issued a storm warning for the coast on Friday. "
        "Winds may reach ninety kilometres an hour. "
        "Ferries to the islands were cancelled and schools will close early in three districts."
    )
    out = tmp_path / "results.csv"
    run = subprocess.run(
        [DOCSUM, "run", str(tmp_path / "in"), "--out", str(out)],
        env=fleet.process_env(),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert run.returncode == 0, run.stderr
    assert "worker fleet via Redis" in run.stderr and "1 succeeded" in run.stderr, run.stderr
    (row,) = list(csv.DictReader(out.open()))
    assert row["status"] == "succeeded" and row["summary"]
    with client.session_factory() as session:
        job = session.get(Job, int(row["job_id"]))
        assert job.worker_host.startswith("summarize@")  # done by the fleet's worker, not in the command's process


def test_workers_refuse_pickle(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text(
        "The museum extended its opening hours for the summer season. "
        "Visitors can now enter until nine in the evening. "
        "The change follows a survey in which most members asked for later visits on weekdays."
    )
    (item,) = ingest_paths(client.session_factory, [tmp_path], client.settings).items
    with session_scope(client.session_factory) as session:
        batch = batches.create_batch(session, "pickle", resolve_model(client.settings), batches.job_params(3))
        (job_id,) = batches.add_jobs(session, batch, [item.document_id])
    # A pickle payload is code execution on the worker: the worker must refuse it without running the task.
    client.app.tasks["docsum.summarize_chunk"].apply_async(args=[[job_id]], serializer="pickle")
    wait_for(
        lambda: "Refusing to deserialize untrusted content of type pickle" in fleet.log("summarize"), 30, "the refusal"
    )
    with client.session_factory() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.attempts) == ("queued", 0)
    enqueue_summarize(client.app, [job_id])  # the same work as JSON runs
    assert client.wait(batch.id, timeout=WAIT_S).counts["succeeded"] == 1
