"""What users touch, on the real stack (PostgreSQL, Redis, `docsum worker` processes, Flower): batch handles and
streaming through the fleet, the batch commands, `docsum run` when no worker consumes its queue, and the workers' own
Prometheus metrics."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fleet_harness import DOCSUM, REPO_ROOT, Fleet, make_fleet, teardown, wait_for
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port

import docsum
from docsum.client import Client
from docsum.config import Settings
from docsum.errors import FailureClass

WAIT_S = 240
AUTH = ("ops", "s3cret-test")
TEXT = (
    "Memo {i}: the committee met on Tuesday to discuss the harbour plan in detail. Members asked for more data on "
    "shipping traffic before any vote. A second meeting is planned for the end of the month."
)


@pytest.fixture(scope="module")
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = make_fleet(request.config, tmp_path_factory.mktemp("surface"))
    try:
        fleet.flower_port = free_port()
        fleet.metrics_port = free_port()
        fleet.ingest_metrics_port = free_port()
        fleet.start_flower(fleet.flower_port, f"{AUTH[0]}:{AUTH[1]}")
        fleet.start_worker("ingest", "ingest", {"DOCSUM_METRICS_PORT": str(fleet.ingest_metrics_port)})
        fleet.start_worker(
            "summarize", "summarize", {"DOCSUM_METRICS_PORT": str(fleet.metrics_port), "DOCSUM_STORE_EVERY": "1"}
        )
        yield fleet
    finally:
        teardown(request.config, fleet)


@pytest.fixture(scope="module")
def client(fleet: Fleet) -> Iterator[Client]:
    with Client(Settings(database_url=fleet.db_url, broker_url=fleet.broker_url, device="cpu")) as client:
        yield client


def memos(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"memo{i}.txt").write_text(TEXT.format(i=i))
    return folder


def metrics(fleet: Fleet, port: int | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port or fleet.metrics_port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def node() -> str:
    return f"summarize@{socket.gethostname()}"


def test_handle_streams_documents_through_the_fleet(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    before = metrics(fleet).get(("docsum_documents_summarized_total", ()), 0.0)
    batch = client.submit([memos(tmp_path / "in", 5)], name="stream", k=1)
    assert isinstance(batch, docsum.BatchHandle)
    streamed = list(batch.as_completed(timeout=WAIT_S, poll_interval=0.2))
    assert len(streamed) == 5 and len({r.job_id for r in streamed}) == 5
    assert all(r.status == "succeeded" and len(r.summary) == 1 for r in streamed)
    assert batch.status().status == "finished"

    # The summarize worker counted them, and says how long its model took to load; labels stay a closed set.
    after = metrics(fleet)
    assert after[("docsum_documents_summarized_total", ())] == before + 5
    assert after[("docsum_model_load_seconds", ())] > 0
    failed = {dict(labels)["reason"] for (name, labels) in after if name == "docsum_documents_failed_total"}
    assert failed == {c.value for c in FailureClass}
    assert after[("docsum_queue_depth", (("queue", "summarize"),))] == 0
    assert after[("docsum_chunk_seconds_bucket", (("le", "14400.0"),))] >= 1  # buckets reach the visibility timeout

    # Flower's runtime histogram reaches the visibility timeout too (its default stops at 10 s).
    flower = requests.get(f"http://127.0.0.1:{fleet.flower_port}/metrics", auth=AUTH, timeout=10).text
    assert 'le="14400.0"' in flower and "flower_task_runtime_seconds_bucket" in flower
    # docsum's own series are the workers': Flower, which imports the app, does not repeat them at zero.
    assert "docsum_" not in flower


def test_failures_are_counted_by_reason_class(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    """A model directory that disappears before the worker runs: the jobs fail with that reason, counted as 'model'."""
    model = shutil.copytree(REPO_ROOT / "models" / "docsum-minilm-cnndm", tmp_path / "model")
    before = metrics(fleet).get(("docsum_documents_failed_total", (("reason", "model"),)), 0.0)
    assert client.app.control.cancel_consumer("summarize", destination=[node()], reply=True)
    try:
        from docsum.ingest.pipeline import ingest_paths

        report = ingest_paths(client.session_factory, [memos(tmp_path / "in", 2, start=100)], client.settings)
        batch = client.submit([item.document_id for item in report.items], model=str(model), k=1)
        shutil.rmtree(model)
    finally:
        assert client.app.control.add_consumer("summarize", destination=[node()], reply=True)
    final = batch.wait(timeout=WAIT_S)
    assert final.counts["failed"] == 2
    assert all("could not be loaded" in r.error for r in batch.results())
    assert metrics(fleet)[("docsum_documents_failed_total", (("reason", "model"),))] == before + 2


def test_ingest_worker_counts_its_pool_children_documents(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    """The ingest worker forks its pool; its metrics add up what the children counted (prometheus multiprocess)."""

    def read() -> dict:
        return metrics(fleet, fleet.ingest_metrics_port)

    before = read()
    get = lambda values, name, **labels: values.get((name, tuple(sorted(labels.items()))), 0.0)  # noqa: E731
    inputs = memos(tmp_path / "in", 2, start=500)
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    client.submit([inputs], k=1).wait(timeout=WAIT_S)
    after = read()
    assert get(after, "docsum_documents_ingested_total", outcome="ingested") == (
        get(before, "docsum_documents_ingested_total", outcome="ingested") + 2
    )
    assert get(after, "docsum_documents_ingested_total", outcome="failed") == (
        get(before, "docsum_documents_ingested_total", outcome="failed") + 1
    )
    assert get(after, "docsum_documents_failed_total", reason="unreadable") == (
        get(before, "docsum_documents_failed_total", reason="unreadable") + 1
    )
    assert not any(dict(labels).get("pid") for _name, labels in after)  # no per-process series
    assert get(after, "docsum_queue_depth", queue="ingest") == 0


def test_batch_commands(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    env = fleet.process_env({"COLUMNS": "200"})  # one table row per line
    batch = client.submit([memos(tmp_path / "in", 2, start=200)], name="for the commands", k=1)
    batch.wait(timeout=WAIT_S)

    listed = subprocess.run([DOCSUM, "batches", "-n", "50"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "for the commands" in line)
    assert f" {batch.id} " in row and "finished" in row and "2/2" in row

    cancel = subprocess.run([DOCSUM, "cancel", str(batch.id)], env=env, capture_output=True, text=True, timeout=120)
    assert cancel.returncode == 0 and f"batch {batch.id} is finished: nothing left to cancel" in cancel.stdout
    before = client.status(batch.id)
    retry = subprocess.run([DOCSUM, "retry", str(batch.id)], env=env, capture_output=True, text=True, timeout=120)
    assert retry.returncode == 0 and f"batch {batch.id}: no failed document to send again" in retry.stdout
    after = client.status(batch.id)  # nothing ran again: the batch's timing is what it was
    assert (after.status, after.finished_at, after.elapsed_s) == ("finished", before.finished_at, before.elapsed_s)
    for command in ("cancel", "retry", "status", "report"):
        missing = subprocess.run([DOCSUM, command, "424242"], env=env, capture_output=True, text=True, timeout=120)
        assert missing.returncode == 2 and "batch 424242 does not exist" in missing.stderr, (command, missing.stderr)


def test_run_says_when_no_worker_consumes_its_queue(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    inputs = memos(tmp_path / "in", 2, start=300)
    assert client.app.control.cancel_consumer("summarize", destination=[node()], reply=True)
    proc = subprocess.Popen(
        [DOCSUM, "run", str(inputs)],
        env=fleet.process_env({"DOCSUM_NO_WORKER_WARNING_S": "2"}),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "run.err").open("w"),
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        err = lambda: (tmp_path / "run.err").read_text()  # noqa: E731
        wait_for(lambda: "no worker is consuming the summarize queue" in err(), 90, "the no-worker note")
        assert "start one with `docsum worker --queue summarize`" in err()
        lines = [line for line in err().splitlines() if line.strip()]
        assert lines[1].startswith("batch ") and "submitted" in lines[1], lines  # the id, before any progress
    finally:
        assert client.app.control.add_consumer("summarize", destination=[node()], reply=True)
    proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, (tmp_path / "run.err").read_text()
    assert "2 succeeded" in (tmp_path / "run.err").read_text()


def _interrupted(fleet: Fleet, client: Client, command: list[str], inputs: Path, started: str) -> tuple[int, str]:
    """Run `command` with no summarize worker listening, send it Ctrl-C once it has printed `started` and the fleet
    has ingested `inputs` (conditions, not a clock); its exit code and what it printed."""
    assert client.app.control.cancel_consumer("summarize", destination=[node()], reply=True)
    try:
        proc = subprocess.Popen(
            [DOCSUM, *command],
            env=fleet.process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        said = []
        for line in proc.stderr:  # ends at EOF too, should the command exit early (the callers' asserts say why)
            said.append(line)
            if started in line:
                break
        wait_for(lambda: _submitted(client, inputs), WAIT_S, "the document ingested")
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=WAIT_S)  # a bound for a stuck process, not a speed requirement
        return proc.returncode, "".join(said) + rest
    finally:
        assert client.app.control.add_consumer("summarize", destination=[node()], reply=True)


@pytest.mark.parametrize(
    ("command", "started"), [(["run"], "submitted"), (["nightly", "--wait"], "files to ingest")], ids=["run", "nightly"]
)
def test_ctrl_c_leaves_the_batch_running_and_says_how_to_follow_it(
    fleet: Fleet, client: Client, tmp_path: Path, command: list[str], started: str
) -> None:
    inputs = memos(tmp_path / "in", 1, start=400 if command == ["run"] else 450)
    code, err = _interrupted(fleet, client, [*command, str(inputs)], inputs, started)
    assert code == 130, err
    batch_id = client.batches(1)[0].batch_id
    assert f"stopped waiting; batch {batch_id} goes on in the worker fleet" in err
    assert client.wait(batch_id, timeout=WAIT_S).counts["succeeded"] == 1  # the fleet finished it


def _submitted(client: Client, inputs: Path) -> bool:
    from docsum.db.models import Document

    with client.session_factory() as session:
        return session.query(Document).filter(Document.source_uri.like(f"{inputs}%")).count() == 1
