"""A summarize worker SIGKILLed in the middle of a chunk: Redis redelivers the unacknowledged task (after the
visibility timeout, found by the surviving worker's restore sweep) to a second worker, and every job ends
succeeded exactly once, with one summary each."""

from __future__ import annotations

from pathlib import Path

import redis
from fleet_harness import copy_inputs, make_fleet, teardown, wait_for
from sqlalchemy import func, select

from docsum.client import Client
from docsum.config import Settings
from docsum.db.models import Document, Job, JobStatus, Summary
from docsum.db.session import make_session_factory
from docsum.ingest.pipeline import ingest_paths

VISIBILITY_TIMEOUT_S = 4


def test_chunk_of_a_killed_worker_is_redelivered_and_stored_once(request, shared_data: Path, tmp_path: Path) -> None:
    fleet = make_fleet(request.config, tmp_path)
    fleet.env = {"DOCSUM_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S), "DOCSUM_MAX_DELIVERIES": "5"}
    try:
        settings = Settings(
            database_url=fleet.db_url,
            broker_url=fleet.broker_url,
            visibility_timeout=VISIBILITY_TIMEOUT_S,
            device="cpu",
        )
        session_factory = make_session_factory(settings)
        ingest_paths(session_factory, copy_inputs(shared_data, tmp_path / "docs", pdfs=[], texts=4, html=0), settings)
        with session_factory() as session:
            document_ids = list(session.scalars(select(Document.id).where(Document.status == "extracted")))
        assert len(document_ids) == 4

        fleet.start_worker("first", "summarize")
        broker = redis.Redis.from_url(fleet.broker_url)
        with Client(settings) as client:
            batch_id = client.submit(document_ids, name="kill test")

            def running() -> bool:
                with session_factory() as session:
                    states = set(session.scalars(select(Job.status).where(Job.batch_id == batch_id)))
                return states == {JobStatus.running}

            # The worker marks the chunk running, then loads the model and summarizes: kill it in between.
            wait_for(running, 60, "the first worker to start the chunk", interval=0.05)
            fleet.kill("first")
            with session_factory() as session:
                assert session.scalar(select(func.count()).select_from(Summary)) == 0, "killed too late: chunk finished"
            assert broker.hlen("unacked") == 1  # the task is held, unacknowledged, by the dead worker

            fleet.start_worker("second", "summarize")
            report = client.wait(batch_id, timeout=180)

        assert report.status == "finished" and report.counts["succeeded"] == 4, fleet.log("second")
        # A chunk that was started before is redone one document at a time (poison isolation).
        assert "jobs 1-4 (4 docs) was delivered before and did not finish: one document at a time" in fleet.log(
            "second"
        )
        with session_factory() as session:
            jobs = list(session.scalars(select(Job).where(Job.batch_id == batch_id)))
            assert {j.status for j in jobs} == {JobStatus.succeeded}
            assert all(j.attempts == 2 and j.worker_host.startswith("second@") for j in jobs), [
                (j.attempts, j.worker_host) for j in jobs
            ]
            per_job = dict(session.execute(select(Summary.job_id, func.count()).group_by(Summary.job_id)).all())
            assert per_job == {j.id: 1 for j in jobs}
        wait_for(lambda: broker.hlen("unacked") == 0, 30, "the redelivered task to be acknowledged")
    finally:
        teardown(request.config, fleet)
