"""The services as plain functions on SQLite and PostgreSQL, with the real (bundled) model: idempotent redelivery,
the delivery cap, failed documents, cancellation, batch finishing, the nightly planner's selection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docsum.bertsum.preprocess import SentenceTokens
from docsum.config import Settings
from docsum.db import status as db_status
from docsum.db.migrate import upgrade
from docsum.db.models import Batch, BatchStatus, Document, Job, JobStatus, Summary, params_key
from docsum.db.session import dispose_engine, make_session_factory, session_scope
from docsum.errors import FailureClass
from docsum.services import batches, nightly, summarize
from docsum.services.ingest import ingest_files
from docsum.services.models import ModelRef, get_summarizer, resolve_model
from docsum.worker.tasks import chunked

SENTENCES = [
    "The city council approved a new budget for public transport on Monday evening.",
    "Bus fares will stay frozen for two more years under the plan.",
    "Critics said the spending on road repairs was far too small.",
    "The mayor promised a review of cycling lanes before the winter.",
    "Officials expect the first new trams to arrive in early spring.",
    "Residents can comment on the proposals online until the end of the month.",
]


@pytest.fixture
def env(any_db_url: str) -> Iterator[tuple[Settings, object]]:
    upgrade(any_db_url)
    settings = Settings(database_url=any_db_url, broker_url=None, device="cpu", max_deliveries=3)
    yield settings, make_session_factory(settings)
    dispose_engine(any_db_url)


def add_document(session_factory, n: int, sentences: list[str] | None = SENTENCES, error: str | None = None) -> int:
    with session_scope(session_factory) as session:
        doc = Document(source_uri=f"/archive/doc{n}.txt", content_sha256=hashlib.sha256(f"doc{n}".encode()).hexdigest())
        if error is None:
            doc.sentences = [f"{s} (document {n})" for s in sentences] if sentences is not None else []
            doc.text = " ".join(doc.sentences)
            db_status.set_document_extracted(session, doc)
        else:
            db_status.set_document_failed(session, doc, error, FailureClass.unreadable)
        session.flush()
        return doc.id


def make_batch(settings: Settings, session_factory, document_ids: list[int]) -> tuple[int, list[int]]:
    model = resolve_model(settings)
    with session_scope(session_factory) as session:
        batch = batches.create_batch(session, "test", model, batches.job_params(3))
        queued = batches.add_jobs(session, batch, document_ids)
        return batch.id, queued


def run_chunk(settings: Settings, sf, job_ids: list[int], loader, host: str) -> summarize.ChunkOutcome:
    """What the summarize task does: the chunk with this worker's delivery cap and model loader."""
    return summarize.summarize_chunk(sf, settings.max_deliveries, job_ids, lambda path: loader(settings, path), host)


def in_tx(sf, operation, *args):
    """One service call in its own committed transaction, as the client makes it."""
    with session_scope(sf) as session:
        return operation(session, *args)


def no_model(settings: Settings, path: str | None):
    raise AssertionError("the model must not be loaded when a chunk has nothing to do")


def test_summarize_twice_writes_one_summary(env) -> None:
    settings, sf = env
    docs = [add_document(sf, i) for i in range(3)]
    batch_id, queued = make_batch(settings, sf, docs)
    assert len(queued) == 3

    first = run_chunk(settings, sf, queued, get_summarizer, "w1")
    assert sorted(first.succeeded) == sorted(queued)
    # Redelivery of the same task: everything is final, nothing runs, the model is not even asked for.
    second = run_chunk(settings, sf, queued, no_model, "w2")
    assert second.succeeded == [] and sorted(second.skipped) == sorted(queued)

    with sf() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 3
        for job in session.scalars(select(Job)):
            assert job.status == JobStatus.succeeded and job.attempts == 1 and job.worker_host == "w1"
            summary = session.scalar(select(Summary).where(Summary.job_id == job.id))
            document = session.get(Document, job.document_id)
            assert summary.sentence_indices == sorted(summary.sentence_indices)
            assert 1 <= len(summary.sentence_indices) <= 3
            assert summary.text == " ".join(document.sentences[i] for i in summary.sentence_indices)
            assert summary.params_key == params_key(batches.job_params(3))
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)
    assert not in_tx(sf, batches.maybe_finish_batch, batch_id)  # idempotent
    with sf() as session:
        batch = session.get(Batch, batch_id)
        assert batch.status == BatchStatus.finished and batch.n_succeeded == 3


def test_failed_and_empty_documents_fail_alone(env) -> None:
    settings, sf = env
    good = add_document(sf, 1)
    broken = add_document(sf, 2, error="pdf: no text layer (scanned?)")
    empty = add_document(sf, 3, sentences=[])
    batch_id, queued = make_batch(settings, sf, [good, broken, empty])
    with sf() as session:
        by_doc = {j.document_id: j for j in session.scalars(select(Job))}
    assert by_doc[broken].status == JobStatus.failed and by_doc[broken].error == "pdf: no text layer (scanned?)"
    assert by_doc[empty].status == JobStatus.failed and by_doc[empty].error == "document has no sentences"
    # A job takes its document's class; a document without sentences has nothing to summarize.
    assert (by_doc[broken].failure_class, by_doc[empty].failure_class) == ("unreadable", "no_text")
    with sf() as session:  # what `docsum status` and `docsum batches` show beside the count
        assert batches.batch_report(session, batch_id).failures == {"no_text": 1, "unreadable": 1}
    assert queued == [by_doc[good].id]
    outcome = run_chunk(settings, sf, queued, get_summarizer, "w")
    assert outcome.succeeded == queued
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)


@pytest.mark.parametrize("new_batch", [False, True])
def test_add_jobs_reports_only_queued_jobs(env, new_batch: bool) -> None:
    """Jobs made for a new batch are queued unless their document cannot be summarized, whether the batch is
    looked at first (a batch that may hold jobs) or not (`new_batch`: one created in the same transaction)."""
    settings, sf = env
    good = add_document(sf, 1)
    accented = add_document(sf, 2, sentences=["Ça coûte très cher à Zürich, dit-elle à l'été."] * 3)
    broken = add_document(sf, 3, error="pdf: no text layer (scanned?)")
    empty = add_document(sf, 4, sentences=[])
    with session_scope(sf) as session:
        batch = batches.create_batch(session, "test", resolve_model(settings), batches.job_params(3))
        queued = batches.add_jobs(session, batch, [good, broken, accented, empty, good], new_batch=new_batch)
        batch_id = batch.id
    with sf() as session:
        by_doc = {j.document_id: j for j in session.scalars(select(Job).where(Job.batch_id == batch_id))}
    assert len(by_doc) == 4  # the repeated document has one job
    assert queued == [by_doc[good].id, by_doc[accented].id]
    assert (by_doc[broken].status, by_doc[broken].error) == (JobStatus.failed, "pdf: no text layer (scanned?)")
    assert (by_doc[empty].status, by_doc[empty].error) == (JobStatus.failed, "document has no sentences")
    # Added again (a redelivered ingest task): nothing new, and the failed jobs stay out of the queued ones.
    with session_scope(sf) as session:
        again = batches.add_jobs(session, batches.get_batch(session, batch_id), [empty, good, broken, accented])
    assert again == [by_doc[good].id, by_doc[accented].id]


def test_delivery_cap_fails_a_poison_job(env) -> None:
    settings, sf = env
    batch_id, queued = make_batch(settings, sf, [add_document(sf, 1)])
    # Three deliveries that each died mid-chunk (the worker was killed after marking the job running).
    for n in range(settings.max_deliveries):
        with session_scope(sf) as session:
            assert db_status.mark_jobs_running(session, queued, f"lost-{n}") == queued
    outcome = run_chunk(settings, sf, queued, no_model, "w")
    assert outcome.failed == queued
    with sf() as session:
        job = session.get(Job, queued[0])
        assert job.status == JobStatus.failed and job.error == f"gave up after {settings.max_deliveries} deliveries"
        assert job.failure_class == FailureClass.poison
        assert session.scalar(select(func.count()).select_from(Summary)) == 0
    # retry_failed gives it a fresh delivery budget; the batch (still running) keeps it.
    assert in_tx(sf, batches.retry_failed, batch_id) == queued
    assert run_chunk(settings, sf, queued, get_summarizer, "w").succeeded == queued


def test_cancelled_jobs_are_skipped(env) -> None:
    settings, sf = env
    batch_id, queued = make_batch(settings, sf, [add_document(sf, i) for i in range(2)])
    assert in_tx(sf, batches.cancel_batch, batch_id) == 2
    outcome = run_chunk(settings, sf, queued, no_model, "w")
    assert sorted(outcome.skipped) == sorted(queued)
    with sf() as session:
        assert {j.status for j in session.scalars(select(Job))} == {JobStatus.cancelled}
        assert session.get(Batch, batch_id).status == BatchStatus.cancelled


def test_unsummarized_selects_only_documents_lacking_this_summary(env) -> None:
    settings, sf = env
    done, todo = add_document(sf, 1), add_document(sf, 2)
    add_document(sf, 3, error="unreadable")
    _, queued = make_batch(settings, sf, [done])
    run_chunk(settings, sf, queued, get_summarizer, "w")
    model = resolve_model(settings)
    with sf() as session:
        assert nightly.unsummarized(session, model.model_id, params_key(batches.job_params(3))) == [todo]
        # Other params are another summary: both documents lack it.
        assert nightly.unsummarized(session, model.model_id, params_key(batches.job_params(5))) == [done, todo]


def test_describe_chunk_and_chunking() -> None:
    assert summarize.describe_chunk([3, 1, 2]) == "jobs 1-3 (3 docs)"
    assert summarize.describe_chunk([7]) == "job 7 (1 doc)"
    assert chunked(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError):
        batches.job_params(0)


def test_a_model_that_cannot_load_fails_the_chunk_with_its_reason(env, tmp_path) -> None:
    settings, sf = env
    missing = ModelRef(path=str(tmp_path / "no-such-model"), model_id="gone@0")
    document_id = add_document(sf, 1)
    with session_scope(sf) as session:
        batch = batches.create_batch(session, "moved model", missing, batches.job_params(3))
        queued = batches.add_jobs(session, batch, [document_id])
        batch_id = batch.id
    outcome = run_chunk(settings, sf, queued, get_summarizer, "w")
    assert outcome.failed == queued
    with sf() as session:
        job = session.get(Job, queued[0])
        assert job.status == JobStatus.failed and "could not be loaded" in job.error and "no-such-model" in job.error
        assert job.failure_class == FailureClass.model
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)


def test_fail_running_jobs_leaves_final_jobs_alone(env) -> None:
    settings, sf = env
    _, queued = make_batch(settings, sf, [add_document(sf, i) for i in range(2)])
    with session_scope(sf) as session:
        db_status.mark_jobs_running(session, queued[:1], "w")
    assert summarize.fail_running_jobs(sf, queued, "internal error: boom", FailureClass.internal) == queued[:1]
    with sf() as session:
        states = {j.id: (j.status, j.error, j.failure_class) for j in session.scalars(select(Job))}
    assert states == {
        queued[0]: (JobStatus.failed, "internal error: boom", "internal"),
        queued[1]: (JobStatus.queued, None, None),
    }


def test_retry_failed_reopens_a_finished_batch(env) -> None:
    settings, sf = env
    good = add_document(sf, 1)
    broken = add_document(sf, 2, error="corrupt PDF: unexpected EOF")
    batch_id, queued = make_batch(settings, sf, [good, broken])
    with session_scope(sf) as session:  # the good document's job was given up on (poison cap)
        for n in range(settings.max_deliveries):
            db_status.mark_jobs_running(session, queued, f"lost-{n}")
    run_chunk(settings, sf, queued, no_model, "w")
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)

    # The job of the good document is retried; the broken document's job fails again at once, with its reason.
    assert in_tx(sf, batches.retry_failed, batch_id) == queued
    with sf() as session:
        batch = session.get(Batch, batch_id)
        assert batch.status == BatchStatus.running and batch.finished_at is None
        broken_job = session.scalar(select(Job).where(Job.document_id == broken))
        assert broken_job.status == JobStatus.failed and broken_job.error == "corrupt PDF: unexpected EOF"
    assert run_chunk(settings, sf, queued, get_summarizer, "w").succeeded == queued
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)
    with sf() as session:
        batch = session.get(Batch, batch_id)
        assert (batch.status, batch.n_succeeded, batch.n_failed) == (BatchStatus.finished, 1, 1)

    # A cancelled batch is not reopened.
    other_id, _ = make_batch(settings, sf, [add_document(sf, 3)])
    in_tx(sf, batches.cancel_batch, other_id)
    with pytest.raises(batches.BatchCancelled, match="cancelled"):
        in_tx(sf, batches.retry_failed, other_id)


def test_retry_with_nothing_to_run_again_keeps_a_finished_batch_as_it_was(env) -> None:
    settings, sf = env
    good = add_document(sf, 1)
    broken = add_document(sf, 2, error="corrupt PDF: unexpected EOF")
    batch_id, queued = make_batch(settings, sf, [good, broken])
    run_chunk(settings, sf, queued, get_summarizer, "w")
    assert in_tx(sf, batches.maybe_finish_batch, batch_id)
    with sf() as session:
        before = session.get(Batch, batch_id)
        finished_at, counts = before.finished_at, (before.n_succeeded, before.n_failed)
        broken_job = session.scalar(select(Job).where(Job.document_id == broken))
        job_state = (broken_job.status, broken_job.error, broken_job.finished_at, broken_job.updated_at)

    # The only failure is a file that cannot be read: nothing runs again, and nothing is rewritten.
    assert in_tx(sf, batches.retry_failed, batch_id) == []
    with sf() as session:
        after = session.get(Batch, batch_id)
        assert (after.status, after.finished_at, (after.n_succeeded, after.n_failed)) == (
            BatchStatus.finished,
            finished_at,
            counts,
        )
        job = session.scalar(select(Job).where(Job.document_id == broken))
        assert (job.status, job.error, job.finished_at, job.updated_at) == job_state
        report = batches.batch_report(session, batch_id)
    assert report.finished_at == finished_at and report.status == "finished"


def test_a_redelivered_chunk_runs_one_document_at_a_time(env) -> None:
    settings, sf = env
    _, queued = make_batch(settings, sf, [add_document(sf, i) for i in range(3)])
    with session_scope(sf) as session:  # a first delivery started the chunk, and its worker died
        db_status.mark_jobs_running(session, queued, "dead")
    first = run_chunk(settings, sf, queued, get_summarizer, "w")
    assert first.one_by_one and sorted(first.succeeded) == sorted(queued)
    with sf() as session:
        assert {(j.status, j.attempts, j.worker_host) for j in session.scalars(select(Job))} == {
            (JobStatus.succeeded, 2, "w")
        }
    # An ordinary first delivery runs the chunk as one batch.
    _, more = make_batch(settings, sf, [add_document(sf, 9)])
    assert not run_chunk(settings, sf, more, get_summarizer, "w").one_by_one


def test_ingest_files_creates_one_job_per_document_and_survives_redelivery(env, tmp_path) -> None:
    settings, sf = env
    text = " ".join(SENTENCES)
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "copy-of-a.txt").write_text(text)  # same content: the same document, one job
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    paths = [str(tmp_path / n) for n in ("a.txt", "copy-of-a.txt", "broken.pdf")]
    with session_scope(sf) as session:
        batch_id = batches.create_batch(
            session, "files", resolve_model(settings), batches.job_params(3), files_total=3
        ).id

    outcome = ingest_files(sf, settings, batch_id, paths)
    assert outcome.report.counts() == {"ingested": 1, "duplicate": 1, "failed": 1} and len(outcome.to_summarize) == 1
    with sf() as session:
        by_status = {j.status: j for j in session.scalars(select(Job).where(Job.batch_id == batch_id))}
        assert set(by_status) == {JobStatus.queued, JobStatus.failed}
        assert by_status[JobStatus.failed].error  # the document's own reason
        assert session.get(Batch, batch_id).files_done == 3

    # Redelivered: nothing new, the queued job is handed out again, files are not counted twice.
    again = ingest_files(sf, settings, batch_id, paths)
    assert again.to_summarize == outcome.to_summarize and again.report.counts()["ingested"] == 0
    with sf() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.batch_id == batch_id)) == 2
        assert session.get(Batch, batch_id).files_done == 3

    in_tx(sf, batches.cancel_batch, batch_id)
    assert ingest_files(sf, settings, batch_id, paths).to_summarize == []


def test_ingest_tokenizes_ahead_for_the_batch_model_and_summaries_do_not_change(env, tmp_path) -> None:
    settings, sf = env
    (tmp_path / "a.txt").write_text(" ".join(SENTENCES))
    model = resolve_model(settings)
    with session_scope(sf) as session:
        batch_id = batches.create_batch(session, "ahead", model, batches.job_params(3), files_total=1).id
    outcome = ingest_files(sf, settings, batch_id, [str(tmp_path / "a.txt")])
    (document_id,) = [item.document_id for item in outcome.report.items]
    with sf() as session:
        document = session.get(Document, document_id)
        sentences, key, stored = document.sentences, document.token_key, document.token_ids
    summarizer = get_summarizer(settings, model.path)
    tokens = SentenceTokens.from_bytes(key, stored)
    assert key == summarizer.engine.fingerprint
    assert len(tokens.ids) == len(tokens.words) == len(sentences)
    assert tokens.ids[0] == summarizer.tokenizer(sentences[0], add_special_tokens=False)["input_ids"]

    expected = summarizer.summarize([sentences], k=3)[0]
    assert run_chunk(settings, sf, outcome.to_summarize, get_summarizer, "w").succeeded == outcome.to_summarize
    with sf() as session:
        summary = session.scalar(select(Summary).where(Summary.document_id == document_id))
        assert summary.sentence_indices == expected.indices and summary.scores == pytest.approx(expected.scores)


def _nightly(sf, settings: Settings, root) -> nightly.NightlyOutcome:
    """A nightly run as the task makes it, with its ingest step run here instead of on the ingest queue."""
    with_params = batches.job_params(3)
    outcome = nightly.plan_nightly(sf, [str(root)], resolve_model(settings), with_params)
    if outcome.to_ingest:
        ingest_files(sf, settings, outcome.batch_id, outcome.to_ingest)
    return outcome


def test_nightly_skips_unchanged_files_unread_and_notes_changes_and_deletions(env, tmp_path) -> None:
    settings, sf = env
    root = tmp_path / "archive"
    (root / "2026").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "2026" / f"{name}.txt").write_text(f"{' '.join(SENTENCES)} File {name}.")
    (root / ".hidden.txt").write_text("not part of the archive")
    first = _nightly(sf, settings, root)
    assert first.scan == {"seen": 3, "skipped": 0, "new": 3, "changed": 0, "deleted": 0, "unreadable": 0}

    # Unchanged files are not read: make one unreadable (its stat is unchanged) and it is still skipped.
    (root / "2026" / "a.txt").chmod(0)
    try:
        again = _nightly(sf, settings, root)
    finally:
        (root / "2026" / "a.txt").chmod(0o644)
    assert again.scan["skipped"] == 3 and again.to_ingest == [] and again.to_summarize == []

    (root / "2026" / "b.txt").write_text(f"{' '.join(SENTENCES)} File b, second edition with more words.")
    (root / "2026" / "c.txt").unlink()
    (root / "d.txt").write_text(f"{' '.join(SENTENCES)} File d.")
    third = _nightly(sf, settings, root)
    assert third.scan == {"seen": 3, "skipped": 1, "new": 1, "changed": 1, "deleted": 1, "unreadable": 0}
    assert sorted(Path(p).name for p in third.to_ingest) == ["b.txt", "d.txt"]
    with sf() as session:
        batch = session.get(Batch, third.batch_id)
        assert batch.params["scan"] == third.scan and batch.files_total == 2


def test_nightly_is_scoped_to_its_roots(env, tmp_path) -> None:
    settings, sf = env
    mine, other = tmp_path / "mine", tmp_path / "mine_other"  # a sibling whose name shares the prefix
    for root in (mine, other):
        root.mkdir()
        (root / "x.txt").write_text(f"{' '.join(SENTENCES)} In {root.name}.")
    # Documents of the other root are stored (as another batch would) but never summarized.
    with session_scope(sf) as session:
        batch_id = batches.create_batch(
            session, "other", resolve_model(settings), batches.job_params(3), files_total=1
        ).id
    ingest_files(sf, settings, batch_id, [str(other / "x.txt")])
    with session_scope(sf) as session:
        batches.cancel_batch(session, batch_id)

    run = _nightly(sf, settings, mine)
    with sf() as session:
        jobs = list(session.scalars(select(Job).where(Job.batch_id == run.batch_id)))
        sources = {session.get(Document, job.document_id).source_uri for job in jobs}
    assert sources == {str(mine / "x.txt")}


def test_ingest_steps_send_full_summarize_chunks_and_the_last_file_sends_the_rest(env, tmp_path) -> None:
    settings, sf = env
    settings = settings.model_copy(update={"chunk_size": 3})
    paths = []
    for name in "abcd":
        (tmp_path / f"{name}.txt").write_text(f"{' '.join(SENTENCES)} Part {name}.")
        paths.append(str(tmp_path / f"{name}.txt"))
    with session_scope(sf) as session:
        batch_id = batches.create_batch(
            session, "chunks", resolve_model(settings), batches.job_params(3), files_total=4
        ).id
    sent = [ingest_files(sf, settings, batch_id, [path]).to_summarize for path in paths]
    assert [len(s) for s in sent] == [0, 0, 3, 1]  # an ingest step's own documents wait for a full chunk
    with sf() as session:
        jobs = list(session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.id)))
    assert sent[2] + sent[3] == [job.id for job in jobs] and all(job.enqueued_at is not None for job in jobs)

    # A redelivered step sends its own queued jobs again (the delivery that died may not have sent them).
    assert ingest_files(sf, settings, batch_id, [paths[0]]).to_summarize == [jobs[0].id]


def test_the_unsummarized_query_never_scans_the_open_jobs_index_per_document(pg_url: str) -> None:
    """Right after a large insert (statistics not yet updated, as after a first nightly run) the planner took the
    partial index of open jobs for the "pending job?" check and scanned it once per document: quadratic (10,000
    documents, 2.6 s). The check is written so that the index cannot serve it."""
    from sqlalchemy import text

    upgrade(pg_url)
    sf = make_session_factory(pg_url)
    try:
        with session_scope(sf) as session:
            session.execute(
                text(
                    "INSERT INTO documents (source_uri, content_sha256, status, created_at, updated_at) "
                    "SELECT '/archive/' || g || '.txt', md5(g::text) || md5(g::text), 'extracted', now(), now() "
                    "FROM generate_series(1, 3000) AS g"
                )
            )
            batch = batches.create_batch(session, "open", ModelRef(None, "m@1"), batches.job_params(3))
            session.execute(
                text(
                    "INSERT INTO jobs (batch_id, document_id, model_id, params, params_key, status, attempts, "
                    "updated_at) SELECT :batch, id, 'm@1', '{}', :key, 'queued', 0, now() FROM documents"
                ),
                {"batch": batch.id, "key": params_key(batches.job_params(3))},
            )
        with sf() as session:
            captured = []
            real = session.scalars
            session.scalars = lambda stmt, *a, **k: captured.append(stmt) or real(stmt, *a, **k)
            assert nightly.unsummarized(session, "m@1", params_key(batches.job_params(3)), ["/archive"]) == []
            sql = captured[0].compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            raw = session.connection().connection.driver_connection
            plan = "\n".join(row[0] for row in raw.execute("EXPLAIN " + str(sql).replace("%%", "%")))
        assert "ix_jobs_open_batch_id" not in plan, plan
    finally:
        dispose_engine(pg_url)


def test_two_transactions_recording_the_same_new_files_both_succeed(env, tmp_path) -> None:
    """Concurrent ingest of the same paths: the second transaction to record a path updates the row the first
    inserted, where a select-then-insert failed on the unique path and lost its batch."""
    import threading

    from docsum.db.models import ArchiveFile
    from docsum.services.archive import FileStat, record_files

    _, sf = env
    stats = [FileStat(str(tmp_path / f"f{i}.txt"), 10 + i, 1_000 + i) for i in range(3)]
    first_wrote, errors = threading.Event(), []

    def first() -> None:
        try:
            with session_scope(sf) as session:
                record_files(session, stats[:2])
                first_wrote.set()
                threading.Event().wait(0.5)  # holds its uncommitted rows while the second records the same paths
        except Exception as exc:  # noqa: BLE001 - reported below: an error in a thread would be lost
            errors.append(exc)
            first_wrote.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_wrote.wait(30)
    with session_scope(sf) as session:
        record_files(session, [FileStat(s.path, s.size + 1, s.mtime_ns) for s in stats])
    thread.join(30)
    assert errors == []
    with sf() as session:
        rows = {row.path: row.size for row in session.scalars(select(ArchiveFile))}
    assert rows == {s.path: s.size + 1 for s in stats}  # the later write wins


def test_a_file_that_could_not_be_read_is_read_again_by_the_next_nightly(env, tmp_path, monkeypatch) -> None:
    """A permission error leaves size and mtime as they were (chmod changes neither): such a file must not be
    remembered as seen, or the next run would call it unchanged and never read it again."""
    settings, sf = env
    root = tmp_path / "archive"
    root.mkdir()
    locked = root / "locked.txt"
    locked.write_text(f"{' '.join(SENTENCES)} Locked.")
    real_open = Path.open

    def refuse(self, *args, **kwargs):  # as a non-root user's chmod 000 would (tests may run as root)
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    first = _nightly(sf, settings, root)
    assert first.to_ingest == [str(locked)]
    with sf() as session:
        reasons = [d.error for d in session.scalars(select(Document).where(Document.source_uri == str(locked)))]
    assert reasons == ["unreadable: Permission denied"]

    monkeypatch.setattr(Path, "open", real_open)  # the operator fixed the permissions
    second = _nightly(sf, settings, root)
    assert second.to_ingest == [str(locked)] and second.scan["new"] == 1
    with sf() as session:
        stored = session.scalar(select(Document).where(Document.source_uri == str(locked), Document.text.is_not(None)))
    assert stored is not None and "Locked." in stored.text


def test_the_nightly_run_takes_over_the_documents_of_a_killed_embedded_run(env, tmp_path) -> None:
    """Jobs left open by an embedded process that died count as pending: the nightly run closes such a batch
    (interrupted) and summarizes its unfinished documents, instead of skipping them forever."""
    import socket
    import subprocess
    import sys

    settings, sf = env
    root = tmp_path / "archive"
    root.mkdir()
    for name in "ab":
        (root / f"{name}.txt").write_text(f"{' '.join(SENTENCES)} File {name}.")
    killed = _nightly(sf, settings, root)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with session_scope(sf) as session:
        batch = session.get(Batch, killed.batch_id)
        batch.params = {**batch.params, "owner": {"host": socket.gethostname(), "pid": dead.pid, "started": "0"}}
        job = session.scalars(select(Job).where(Job.batch_id == killed.batch_id).order_by(Job.id)).first()
        db_status.mark_job_running(session, job, "killed-host")

    after = _nightly(sf, settings, root)
    with sf() as session:
        assert session.get(Batch, killed.batch_id).params.get("interrupted") is True
        taken = session.scalars(select(Job.document_id).where(Job.batch_id == after.batch_id)).all()
        left = session.scalars(select(Job.document_id).where(Job.batch_id == killed.batch_id)).all()
    assert sorted(taken) == sorted(left) and len(taken) == 2


def test_two_nightly_runs_at_once_give_each_document_one_open_job(env, tmp_path) -> None:
    settings, sf = env
    root = tmp_path / "archive"
    root.mkdir()
    for name in "abc":
        (root / f"{name}.txt").write_text(f"{' '.join(SENTENCES)} File {name}.")
    with_params = batches.job_params(3)
    plans = [nightly.plan_nightly(sf, [str(root)], resolve_model(settings), with_params) for _ in range(2)]
    assert [sorted(p.to_ingest) for p in plans] == [sorted(str(p) for p in root.iterdir())] * 2  # both saw them new
    for plan in plans:
        ingest_files(sf, settings, plan.batch_id, plan.to_ingest)
    with sf() as session:
        jobs = session.scalars(select(Job.document_id).where(Job.batch_id.in_([p.batch_id for p in plans]))).all()
    assert len(jobs) == 3 and len(set(jobs)) == 3


def test_an_ingest_step_reads_only_files_under_its_batch_roots(env, tmp_path) -> None:
    """A message naming a path outside the batch's roots (forged, or meant for another batch) is refused and counts
    nothing; a file of the batch that became a link out of its roots after the walk is refused with a reason."""
    settings, sf = env
    root, secret = tmp_path / "archive", tmp_path / "private"
    root.mkdir()
    secret.mkdir()
    (root / "a.txt").write_text(f"{' '.join(SENTENCES)} Mine.")
    (secret / "key.txt").write_text(f"{' '.join(SENTENCES)} Not for this batch.")
    with session_scope(sf) as session:
        batch_id = batches.create_batch(
            session, "roots", resolve_model(settings), batches.job_params(3), files_total=2, roots=[str(root)]
        ).id
    (root / "b.txt").symlink_to(secret / "key.txt")  # swapped in after the walk

    forged = ingest_files(sf, settings, batch_id, [str(secret / "key.txt"), str(root / "../private/key.txt")])
    assert forged.report.items == [] and forged.to_summarize == []
    with sf() as session:
        assert session.get(Batch, batch_id).files_done == 0
        assert session.scalar(select(func.count()).select_from(Document)) == 0

    own = ingest_files(sf, settings, batch_id, [str(root / "a.txt"), str(root / "b.txt")])
    reasons = {Path(item.source_uri).name: item.reason for item in own.report.items}
    assert reasons == {"a.txt": None, "b.txt": "a link out of the batch's roots (made after the walk): not read"}
    with sf() as session:
        assert session.get(Batch, batch_id).files_done == 2
        texts = session.scalars(select(Document.text)).all()
    assert not any(t and "Not for this batch" in t for t in texts)
