"""A summarize chunk commits its results every `store_every` documents, so that a batch's counts (and `docsum run`'s
progress, and `as_completed`) move per document rather than per chunk."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from docsum.config import Settings
from docsum.db import status as db_status
from docsum.db.migrate import upgrade
from docsum.db.models import Document, Job, JobStatus, Summary
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.services import batches, summarize
from docsum.services.models import get_summarizer, resolve_model

SENTENCES = [
    "The city council approved a new budget for public transport on Monday evening.",
    "Bus fares will stay frozen for two more years under the plan.",
    "Critics said the spending on road repairs was far too small.",
    "Officials expect the first new trams to arrive in early spring.",
]


@pytest.fixture
def env(any_db_url: str) -> Iterator[tuple[Settings, object]]:
    upgrade(any_db_url)
    settings = Settings(database_url=any_db_url, broker_url=None, device="cpu")
    yield settings, make_session_factory(settings)
    dispose_engine(any_db_url)


def make_jobs(settings: Settings, sf, n: int) -> tuple[int, list[int]]:
    with session_scope(sf) as session:
        ids = []
        for i in range(n):
            doc = Document(source_uri=f"/archive/p{i}.txt", content_sha256=hashlib.sha256(f"p{i}".encode()).hexdigest())
            doc.sentences = [f"{s} (document {i})" for s in SENTENCES]
            doc.text = " ".join(doc.sentences)
            db_status.set_document_extracted(session, doc)
            session.flush()
            ids.append(doc.id)
        batch = batches.create_batch(session, "progress", resolve_model(settings), batches.job_params(2))
        return batch.id, batches.add_jobs(session, batch, ids)


class Watching:
    """The real summarizer; before each engine call it records how many of the batch's jobs are committed done,
    as another process (the CLI's progress loop) would see them."""

    def __init__(self, summarizer, sf, batch_id: int) -> None:
        self.summarizer, self.sf, self.batch_id = summarizer, sf, batch_id
        self.model_id = summarizer.model_id
        self.engine = summarizer.engine  # the worker reads its stage timings
        self.seen: list[int] = []

    def summarize(self, docs, **kwargs):
        with self.sf() as session:
            self.seen.append(
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.batch_id == self.batch_id, Job.status == JobStatus.succeeded)
                )
            )
        return self.summarizer.summarize(docs, **kwargs)


@pytest.mark.parametrize(
    "store_every, store_tokens, expected",
    [(2, None, [0, 2, 4]), (None, 160, [0, 2, 4]), (None, 10_000, [0]), (None, None, [0])],
    ids=["every-2", "tokens-2-docs", "tokens-whole", "whole"],
)
def test_results_are_committed_in_slices(env, store_every, store_tokens, expected) -> None:
    """Each document is about 79 estimated tokens: 160 tokens make slices of 2, 10,000 one slice."""
    settings, sf = env
    batch_id, queued = make_jobs(settings, sf, 6)
    watching = Watching(get_summarizer(settings, resolve_model(settings).path), sf, batch_id)
    outcome = summarize.summarize_chunk(
        sf, 3, queued, lambda path: watching, "w", store_every=store_every, store_tokens=store_tokens
    )
    assert sorted(outcome.succeeded) == sorted(queued)
    assert watching.seen == expected  # with slices of 2, the 2nd and 3rd engine calls find 2 and 4 already committed
    with sf() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 6
        summaries = {s.job_id: s.sentence_indices for s in session.scalars(select(Summary))}
    assert all(1 <= len(indices) <= 2 for indices in summaries.values())


class Slow(Watching):
    """Each engine call takes at least `seconds`, as a slow device would."""

    seconds = 0.3

    def summarize(self, docs, **kwargs):
        result = super().summarize(docs, **kwargs)
        time.sleep(self.seconds)
        return result


@pytest.mark.parametrize("engine, interval, expected", [(Watching, 60.0, [0, 0, 0]), (Slow, 0.2, [0, 2, 4])])
def test_with_an_interval_slices_are_stored_together_until_it_has_passed(env, engine, interval, expected) -> None:
    """Fast slices are stored together (nothing is committed before the chunk ends when the interval is long); a
    slice slower than the interval is stored as soon as it is done. Nothing is lost either way."""
    settings, sf = env
    batch_id, queued = make_jobs(settings, sf, 6)
    watching = engine(get_summarizer(settings, resolve_model(settings).path), sf, batch_id)
    outcome = summarize.summarize_chunk(
        sf, 3, queued, lambda path: watching, "w", store_tokens=160, store_interval=interval
    )
    assert sorted(outcome.succeeded) == sorted(queued)
    assert watching.seen == expected
    with sf() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 6
        done = select(func.count()).select_from(Job).where(Job.batch_id == batch_id, Job.status == JobStatus.succeeded)
        assert session.scalar(done) == 6


def test_slices_hold_documents_of_similar_length() -> None:
    docs = [["x" * n] for n in (400, 40, 400, 40, 4000, 40)]
    by_count = summarize.slices(docs, 2, None, summarize.document_chars)
    assert [[len(d[0]) for d in part] for part in by_count] == [[40, 40], [40, 400], [400, 4000]]
    by_tokens = summarize.slices(docs, None, 250, summarize.document_chars)  # 11, 101 and 1001 tokens
    assert [[len(d[0]) for d in part] for part in by_tokens] == [[40, 40, 40, 400, 400], [4000]]
    assert summarize.slices(docs, None, None, summarize.document_chars) == [docs]


def test_how_a_worker_stores_a_chunk_follows_the_settings() -> None:
    from docsum.worker.tasks import store_slices

    assert store_slices(Settings(store_every=0)) == {"store_every": None, "store_tokens": None}  # whole chunk
    assert store_slices(Settings(store_every=5)) == {"store_every": 5, "store_tokens": None}
    assert store_slices(Settings(max_batch_tokens=1000)) == {"store_tokens": 2000, "store_interval": 0.5}
