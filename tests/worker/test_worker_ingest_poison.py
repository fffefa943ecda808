"""An ingest task whose prefork child is SIGKILLed at every delivery (what the OOM killer does to a file that
reliably exhausts memory) comes back a limited number of times: past max_deliveries its file fails with "gave up
after N deliveries", the other file of the same task is ingested and summarized, and the batch finishes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from fleet_harness import make_fleet, teardown, wait_for
from sqlalchemy import select

from docsum.client import Client
from docsum.config import Settings
from docsum.db.models import Document, DocumentStatus
from docsum.db.session import make_session_factory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_input_cases import stalling_html, write

MAX_DELIVERIES = 3
STORY = (
    "The harbour authority opened a new ferry terminal on Monday after three years of work. "
    "The terminal can handle twelve departures an hour at peak times. "
    "Officials said the old pier will be turned into a public park next spring. "
    "Local businesses expect more visitors once the summer timetable starts."
)


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def extracting_pool_child(worker_pid: int) -> int | None:
    """The worker's pool child that has started an extraction process, if any."""
    for child in children(worker_pid):
        if any("docsum.ingest.sandbox" in cmdline(grandchild) for grandchild in children(child)):
            return child
    return None


def test_an_ingest_task_that_kills_its_worker_gives_up_after_max_deliveries(request, tmp_path: Path) -> None:
    fleet = make_fleet(request.config, tmp_path)
    # The poison page would stall extraction for many seconds: long enough to be caught and killed every time.
    fleet.env = {
        "DOCSUM_MAX_DELIVERIES": str(MAX_DELIVERIES),
        "DOCSUM_MAX_EXTRACT_SECONDS": "120",
        "DOCSUM_MAX_HTML_CHARS": str(10**9),
    }
    try:
        poison = write(tmp_path / "in" / "a-poison.html", stalling_html())
        good = write(tmp_path / "in" / "b-good.txt", STORY.encode())
        worker = fleet.start_worker("ingest", "ingest")
        fleet.start_worker("summarize", "summarize")
        settings = Settings(database_url=fleet.db_url, broker_url=fleet.broker_url, device="cpu")
        with Client(settings) as client:
            batch_id = client.submit([poison, good], name="poison")  # one ingest task with both files
            for kill in range(MAX_DELIVERIES):
                victim = wait_for(lambda: extracting_pool_child(worker.pid), 120, f"delivery {kill + 1} to extract")
                os.kill(victim, signal.SIGKILL)
                wait_for(lambda v=victim: v not in children(worker.pid), 30, "the killed child to be replaced")
            report = client.wait(batch_id, timeout=240)
            records = {Path(r.source_uri).name: r for r in client.results(batch_id)}

        assert report.status == "finished", fleet.log("ingest")
        assert (report.files_done, report.files_total) == (2, 2)
        assert records[poison.name].status == "failed"
        assert records[poison.name].error == f"gave up after {MAX_DELIVERIES} deliveries"
        assert records[good.name].status == "succeeded" and records[good.name].summary, fleet.log("summarize")
        log = fleet.log("ingest")
        assert log.count("ingest task redelivered after a lost worker") == MAX_DELIVERIES, log
        session_factory = make_session_factory(settings)
        with session_factory() as session:
            docs = {Path(d.source_uri).name: d for d in session.scalars(select(Document))}
        assert docs[poison.name].status == DocumentStatus.failed and docs[poison.name].content_sha256 is None
        assert docs[good.name].status == DocumentStatus.extracted
    finally:
        teardown(request.config, fleet)
