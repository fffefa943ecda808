"""The hard extraction limit in a real `docsum worker --pool threads` (no signal reaches its pool threads): a page
that stalls trafilatura fails with "extraction exceeded N s", the other file of its task is ingested and summarized,
and the batch finishes."""

from __future__ import annotations

import sys
from pathlib import Path

from fleet_harness import DOCSUM, make_fleet, teardown, wait_for

from docsum.client import Client
from docsum.config import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_input_cases import stalling_html, write

STORY = (
    "The harbour authority opened a new ferry terminal on Monday after three years of work. "
    "The terminal can handle twelve departures an hour at peak times. "
    "Officials said the old pier will be turned into a public park next spring."
)


def test_threads_pool_worker_kills_a_stalling_extraction(request, tmp_path: Path) -> None:
    fleet = make_fleet(request.config, tmp_path)
    fleet.env = {"DOCSUM_MAX_EXTRACT_SECONDS": "2", "DOCSUM_MAX_HTML_CHARS": str(10**9)}
    try:
        stall = write(tmp_path / "in" / "a-stall.html", stalling_html())
        good = write(tmp_path / "in" / "b-good.txt", STORY.encode())
        argv = [
            DOCSUM,
            "worker",
            "--queue",
            "ingest",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--hostname",
            "threads@%h",
            "--loglevel",
            "INFO",
        ]
        proc = fleet.start("threads", argv)
        wait_for(lambda: " ready." in fleet.log("threads") or proc.poll() is not None, 90, "the threads worker")
        assert proc.poll() is None, fleet.log("threads")
        fleet.start_worker("summarize", "summarize")
        settings = Settings(database_url=fleet.db_url, broker_url=fleet.broker_url, device="cpu")
        with Client(settings) as client:
            batch_id = client.submit([stall, good], name="stall")
            report = client.wait(batch_id, timeout=240)
            records = {Path(r.source_uri).name: r for r in client.results(batch_id)}
        assert report.status == "finished", fleet.log("threads")
        assert (records[stall.name].status, records[stall.name].error) == ("failed", "extraction exceeded 2 s")
        assert records[good.name].status == "succeeded", fleet.log("summarize")
        assert "a-stall.html exceeded 2 s; its process was killed" in fleet.log("threads")
    finally:
        teardown(request.config, fleet)
