"""The summarize path offers the model only candidate sentences, stores indices into the stored sentences, never
ends with a silent empty summary, and the results cite every summary sentence (real model, SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from docsum.client import Client
from docsum.config import Settings
from docsum.db import status as db_status
from docsum.db.migrate import upgrade
from docsum.db.models import Document, Job, JobStatus, Summary
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.ingest.citations import sentence_info
from docsum.services import batches, summarize
from docsum.services.export import write_results
from docsum.services.models import get_summarizer, resolve_model
from docsum.services.summary_sentences import FALLBACK_NOTE

PROSE = [
    "The city council approved a new budget for public transport on Monday evening.",
    "Bus fares will stay frozen for two more years under the plan.",
    "Critics said the spending on road repairs was far too small.",
    "The mayor promised a review of cycling lanes before the winter.",
    "Officials expect the first new trams to arrive in early spring.",
]
JUNK = ["By Economics Desk, 02 May 2024", "Harbourton, 21 June 2024.", "|---|---|", "Page 1"]


@pytest.fixture
def env(any_db_url: str) -> Iterator[tuple[Settings, object]]:
    upgrade(any_db_url)
    settings = Settings(database_url=any_db_url, broker_url=None, device="cpu")
    yield settings, make_session_factory(settings)
    dispose_engine(any_db_url)


def add(session_factory, n: int, sentences: list[str], paged: bool = False, with_info: bool = True) -> int:
    separator = "\f" if paged else "\n"
    text = separator.join(sentences)
    with session_scope(session_factory) as session:
        doc = Document(
            source_uri=f"/archive/{n}.pdf",
            content_sha256=hashlib.sha256(text.encode()).hexdigest(),
            media_type="application/pdf" if paged else "text/plain",
            language="en",
            page_count=len(sentences) if paged else None,
            text=text,
            sentences=sentences,
        )
        info = sentence_info(text, sentences, paged=paged) if with_info else None
        if info is not None and with_info == "backfilled":
            info = [{k: v for k, v in record.items() if k != "skip"} for record in info]
        doc.sentence_info = info
        db_status.set_document_extracted(session, doc)
        session.flush()
        return doc.id


def run_batch(settings: Settings, session_factory, document_ids: list[int]) -> int:
    with session_scope(session_factory) as session:
        batch = batches.create_batch(session, "t", resolve_model(settings), batches.job_params(3))
        queued = batches.add_jobs(session, batch, document_ids)
        batch_id = batch.id
    summarize.summarize_chunk(
        session_factory, settings.max_deliveries, queued, lambda path: get_summarizer(settings, path), "w"
    )
    return batch_id


def summaries(session_factory) -> dict[int, tuple[Job, Summary | None]]:
    with session_factory() as session:
        return {
            job.document_id: (job, session.scalar(select(Summary).where(Summary.job_id == job.id)))
            for job in session.scalars(select(Job))
        }


def test_only_candidates_are_offered_and_indices_refer_to_stored_sentences(env) -> None:
    settings, sf = env
    stored = JUNK + PROSE  # junk first: a lead-biased model would pick it if it were offered
    doc = add(sf, 1, stored, with_info=True)
    backfilled = add(sf, 2, JUNK + [s.replace("Monday", "Friday") for s in PROSE], with_info="backfilled")
    run_batch(settings, sf, [doc, backfilled])
    for document_id in (doc, backfilled):
        job, summary = summaries(sf)[document_id]
        assert job.status == JobStatus.succeeded and summary is not None and summary.note is None
        assert len(summary.sentence_indices) == 3 and min(summary.sentence_indices) >= len(JUNK)
        with sf() as session:
            sentences = session.get(Document, document_id).sentences
        assert summary.text == " ".join(sentences[i] for i in summary.sentence_indices)


def test_the_worker_follows_the_verdicts_stored_apart(env) -> None:
    """documents.sentence_skips decides what is offered (the records are not read when it is there)."""
    settings, sf = env
    doc = add(sf, 1, PROSE)
    with session_scope(sf) as session:
        session.get(Document, doc).sentence_skips = ["furniture", "byline", None, None, None]
    run_batch(settings, sf, [doc])
    job, summary = summaries(sf)[doc]
    assert job.status == JobStatus.succeeded and summary.sentence_indices == [2, 3, 4]


def test_short_lines_get_their_longest_lines_and_a_note(env) -> None:
    settings, sf = env
    form = add(sf, 1, ["Name:", "Date of birth:", "Signature of the applicant", "Address", "Phone"])
    # Four-word candidates that the model's own filter (PreSumm: more than five tokens) drops.
    terse = add(sf, 2, ["The council met today.", "Prices rose last week.", "Voters were not happy."])
    run_batch(settings, sf, [form, terse])
    got = summaries(sf)
    job, summary = got[form]
    assert job.status == JobStatus.succeeded and summary.note == FALLBACK_NOTE
    assert summary.sentence_indices == [0, 1, 2] and summary.scores == [0.0, 0.0, 0.0]
    job, summary = got[terse]
    assert job.status == JobStatus.succeeded and summary.note == FALLBACK_NOTE and summary.sentence_indices == [0, 1, 2]


def test_a_document_of_only_furniture_fails_with_the_reason(env) -> None:
    settings, sf = env
    furniture = add(sf, 1, ["|---|---|", "By Staff Reporter, 2 May 2024", "12 14 16"])
    run_batch(settings, sf, [furniture])
    job, summary = summaries(sf)[furniture]
    assert job.status == JobStatus.failed and summary is None
    assert job.error.startswith("no summarizable sentence: all 3 sentences are page furniture, markup, bylines")


def test_results_cite_each_summary_sentence(env) -> None:
    settings, sf = env
    pages = ["Harbourton Port Bulletin", PROSE[0], PROSE[1], "Harbourton Port Bulletin", PROSE[2], PROSE[3]]
    doc = add(sf, 1, pages, paged=True)
    batch_id = run_batch(settings, sf, [doc])
    with Client(settings) as client:
        [record] = list(client.results(batch_id))
    with sf() as session:
        stored = session.get(Document, doc)
    assert record.batch_id == batch_id and record.media_type == "application/pdf" and record.language == "en"
    assert record.content_sha256 == stored.content_sha256 and record.page_count == 6 and record.note is None
    assert [c["index"] for c in record.sentences] == record.indices and len(record.indices) == 3
    for cited, score in zip(record.sentences, record.scores):
        assert cited["text"] == stored.sentences[cited["index"]] and cited["score"] == score
        assert cited["page"] == cited["index"] + 1 and cited["ocr"] is False
        assert " ".join(stored.text[cited["start"] : cited["end"]].split()) == cited["text"]
    assert not any(c["text"] == "Harbourton Port Bulletin" for c in record.sentences)

    out = io.StringIO()
    write_results([record], out, "jsonl")
    assert json.loads(out.getvalue())["sentences"] == record.sentences
    out = io.StringIO()
    write_results([record], out, "csv")
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert json.loads(row["sentences"]) == record.sentences
    assert row["batch_id"] == str(batch_id) and row["page_count"] == "6"
    assert row["content_sha256"] == stored.content_sha256
