"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL, and run both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from docsum.db.migrate import current, downgrade, head, upgrade
from docsum.db.models import Base

TABLES = {"documents", "batches", "jobs", "summaries", "archive_files"}


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(any_db_url: str) -> None:
    assert _diff(any_db_url)  # an empty database differs (sanity: the comparison can see differences)
    assert upgrade(any_db_url) == head()
    assert _diff(any_db_url) == []


def test_downgrade_to_base_and_upgrade_again(any_db_url: str) -> None:
    upgrade(any_db_url)
    assert _tables(any_db_url) == TABLES
    assert downgrade(any_db_url, "base") is None
    assert _tables(any_db_url) == set()
    assert current(any_db_url) is None
    upgrade(any_db_url)
    assert _tables(any_db_url) == TABLES
    assert _diff(any_db_url) == []


def test_schema_details_both_backends(any_db_url: str) -> None:
    upgrade(any_db_url)
    engine = create_engine(any_db_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        uniques = {t: {tuple(u["column_names"]) for u in insp.get_unique_constraints(t)} for t in TABLES}
        assert ("content_sha256",) in uniques["documents"]
        assert ("batch_id", "document_id") in uniques["jobs"]
        assert ("job_id",) in uniques["summaries"]
        indexes = {tuple(i["column_names"]) for i in insp.get_indexes("summaries")}
        assert ("document_id", "model_id", "params_key") in indexes
        fks = {fk["name"]: fk for fk in insp.get_foreign_keys("summaries")}
        assert fks["fk_summaries_job_id_jobs"]["options"].get("ondelete") == "CASCADE"
    finally:
        engine.dispose()


def test_upgrade_creates_sqlite_directory(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'nested' / 'docsum.db'}"
    assert current(url) is None
    assert not (tmp_path / "var").exists()  # reading the revision did not create the file
    upgrade(url)
    assert (tmp_path / "var" / "nested" / "docsum.db").is_file()
    assert _tables(url) == TABLES


def test_0005_backfills_spans_and_pages_from_the_stored_text(any_db_url: str) -> None:
    """Documents stored before citations existed get their sentences' spans and PDF pages from the stored text."""
    from datetime import UTC, datetime

    from sqlalchemy import JSON, column, insert, select, table

    upgrade(any_db_url, "0001")
    docs = table(
        "documents",
        column("id"),
        column("source_uri"),
        column("content_sha256"),
        column("media_type"),
        column("text"),
        column("sentences", JSON),
        column("status"),
        column("created_at"),
        column("updated_at"),
    )
    now = datetime.now(UTC)
    pdf_text = "Report title\nThe first page says   one thing.\nIt goes on.\fThe second page\n  wraps a line.\f3"
    rows = [
        (
            1,
            "application/pdf",
            pdf_text,
            ["The first page says one thing.", "It goes on.", "The second page wraps a line.", "3"],
        ),
        (
            2,
            "text/html",
            "Headline\nA web page sentence.\nAnother one here.",
            ["A web page sentence.", "Another one here."],
        ),
        (3, "text/plain", "Text that does not hold its sentences.", ["Something else entirely."]),
        (4, None, None, None),  # a failed document: nothing to backfill
    ]
    engine = create_engine(any_db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for doc_id, media_type, text, sentences in rows:
                conn.execute(
                    insert(docs).values(
                        id=doc_id,
                        source_uri=f"/a/{doc_id}",
                        content_sha256=f"{doc_id:064d}",
                        media_type=media_type,
                        text=text,
                        sentences=sentences,
                        status="extracted" if text else "failed",
                        created_at=now,
                        updated_at=now,
                    )
                )
        upgrade(any_db_url)
        info_col = table("documents", column("id"), column("sentence_info", JSON))
        with engine.connect() as conn:
            info = dict(conn.execute(select(info_col.c.id, info_col.c.sentence_info)).all())
    finally:
        engine.dispose()
    pdf_info = info[1]
    assert [i["page"] for i in pdf_info] == [1, 1, 2, 3]
    for record, sentence in zip(pdf_info, rows[0][3]):
        assert " ".join(pdf_text[record["start"] : record["end"]].split()) == sentence
        assert "skip" not in record and record["ocr"] is False  # candidates are classified when summarized
    html_text = rows[1][2]
    assert [(i["start"], i["end"], i["page"]) for i in info[2]] == [
        (html_text.index("A web"), html_text.index("A web") + 20, None),
        (html_text.index("Another"), len(html_text), None),
    ]
    assert info[3] is None and info[4] is None  # not found in its text: left alone; no text: nothing to do
    assert downgrade(any_db_url, "0001") == "0001"


def _documents_table(*columns):
    """The documents table as an earlier revision has it: the columns every row needs, and `columns`."""
    from sqlalchemy import column, table

    base = ("id", "source_uri", "content_sha256", "status", "created_at", "updated_at")
    return table("documents", *(column(c) for c in base), *columns)


def _insert_document(conn, docs, doc_id: int, status: str = "extracted", **columns) -> None:
    """One document row in `docs` (see _documents_table), extracted unless told, with `columns` besides."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    now = datetime.now(UTC)
    conn.execute(
        insert(docs).values(
            id=doc_id,
            source_uri=f"/d/{doc_id}",
            content_sha256=f"{doc_id:064d}",
            status=status,
            created_at=now,
            updated_at=now,
            **columns,
        )
    )


def test_0006_converts_stored_tokens_to_int32_records_and_back(any_db_url: str) -> None:
    """Tokens stored as JSON before 0006 are converted (not dropped), a damaged value loses its fingerprint so that it
    is tokenized again, and the downgrade gives the JSON back."""
    from sqlalchemy import JSON, LargeBinary, column, select, table

    from docsum.bertsum.preprocess import SentenceTokens

    upgrade(any_db_url, "0005")
    docs = _documents_table(column("token_key"), column("tokens", JSON))
    good = {"fingerprint": "f" * 16, "words": [3, 12, 0], "ids": [[101, 7], [5, 6, 7, 8], []]}
    damaged = {"fingerprint": "f" * 16, "words": [3], "ids": [[1], [2]]}  # one more token list than sentences
    engine = create_engine(any_db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for doc_id, tokens in ((1, good), (2, damaged), (3, None)):
                _insert_document(conn, docs, doc_id, token_key="f" * 16 if tokens else None, tokens=tokens)
        upgrade(any_db_url, "0006")
        binary = table("documents", column("id"), column("token_key"), column("token_ids", LargeBinary))
        with engine.connect() as conn:
            rows = {i: (key, value) for i, key, value in conn.execute(select(binary)).all()}
        assert SentenceTokens.from_bytes(rows[1][0], bytes(rows[1][1])) == SentenceTokens(
            good["fingerprint"], good["words"], good["ids"]
        )
        assert rows[2] == (None, None) and rows[3] == (None, None)
        assert downgrade(any_db_url, "0005") == "0005"
        with engine.connect() as conn:
            back = dict(conn.execute(select(docs.c.id, docs.c.tokens)).all())
        assert back == {1: good, 2: None, 3: None}
    finally:
        engine.dispose()


def test_0008_compresses_documents_with_lz4_on_postgresql_and_back(pg_url: str) -> None:
    """lz4 where the server was built with it (the usual builds are); a server without it is left on its default."""
    from sqlalchemy import text

    upgrade(pg_url)
    engine = create_engine(pg_url, poolclass=NullPool)
    columns = ("text", "sentences", "sentence_info", "token_ids")
    methods = text(
        "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'documents'::regclass "
        "AND attname IN ('text', 'sentences', 'sentence_info', 'token_ids')"
    )
    long_text = " ".join(f"word{i}" for i in range(5000))  # compressible, over the 2 kB threshold
    try:
        with engine.begin() as conn:
            has_lz4 = conn.scalar(
                text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
            )
            assert dict(conn.execute(methods).all()) == dict.fromkeys(columns, "l" if has_lz4 else "")
            conn.execute(
                text(
                    "INSERT INTO documents (source_uri, text, status, created_at, updated_at) "
                    "VALUES ('/a.txt', :t, 'extracted', now(), now())"
                ),
                {"t": long_text},
            )
            if has_lz4:
                assert conn.scalar(text("SELECT pg_column_compression(text) FROM documents")) == "lz4"
        downgrade(pg_url, "0007")
        with engine.begin() as conn:
            assert dict(conn.execute(methods).all()) == dict.fromkeys(columns, "")  # the server's default again
            assert conn.scalar(text("SELECT text FROM documents")) == long_text  # written before: still readable
    finally:
        engine.dispose()


def test_0009_fills_sentence_skips_from_the_records_and_drops_them_on_downgrade(any_db_url: str) -> None:
    """Documents stored before 0009 get their verdicts from their records; records without verdicts (stored before
    candidates) and documents without records stay null, for the reader to classify."""
    from sqlalchemy import JSON, column, select, table

    upgrade(any_db_url, "0008")
    docs = _documents_table(column("sentences", JSON), column("sentence_info", JSON))
    with_verdicts = [
        {"start": 0, "end": 20, "page": 1, "skip": None, "ocr": False},
        {"start": 21, "end": 24, "page": 1, "skip": "fragment", "ocr": False},
        {"start": 25, "end": 60, "page": 2, "skip": "furniture", "ocr": False},
    ]
    before_candidates = [{"start": 0, "end": 20, "page": None}]
    engine = create_engine(any_db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for doc_id, info in ((1, with_verdicts), (2, before_candidates), (3, None), (4, [])):
                _insert_document(conn, docs, doc_id, sentences=["s"] * len(info or []), sentence_info=info)
        upgrade(any_db_url, "0009")
        skips = table("documents", column("id"), column("sentence_skips", JSON(none_as_null=True)))
        with engine.connect() as conn:
            assert dict(conn.execute(select(skips.c.id, skips.c.sentence_skips)).all()) == {
                1: [None, "fragment", "furniture"],
                2: None,
                3: None,
                4: [],
            }
        assert downgrade(any_db_url, "0008") == "0008"
        with engine.connect() as conn:
            assert "sentence_skips" not in {c["name"] for c in inspect(conn).get_columns("documents")}
    finally:
        engine.dispose()


def test_0011_classes_earlier_failures_from_their_reasons(any_db_url: str) -> None:
    """Rows that failed before 0011 get a class from the wording of their reason, first match winning; rows that did
    not fail get none; a reason no release wrote is "other". Jobs as documents. Then 0012 gives the jobs already
    final their change marker."""
    from datetime import UTC, datetime

    from sqlalchemy import JSON, column, insert, select, table

    upgrade(any_db_url, "0010")
    docs = _documents_table(column("error"))
    failed = {
        1: "extraction time limit (60 s) exceeded",
        2: "gave up after 3 deliveries",
        3: "archive has 20001 members (max_archive_members 20000)",
        4: "no text layer (scanned PDF?); OCR is off",
        5: "empty file (0 bytes)",
        6: "corrupt PDF: unexpected EOF",
        7: "summarize failed: RuntimeError: boom",
        8: "internal error: KeyError: 'x'",
        9: "something no release wrote",
        10: "encrypted PDF: a password is needed",
    }
    expected = {
        1: "timeout",
        2: "poison",
        3: "too_large",
        4: "unsupported",
        5: "no_text",
        6: "unreadable",
        7: "model",
        8: "internal",
        9: "other",
        10: "unsupported",
        11: None,
    }
    engine = create_engine(any_db_url, poolclass=NullPool)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            for doc_id, error in failed.items():
                _insert_document(conn, docs, doc_id, status="failed", error=error)
            _insert_document(conn, docs, 11)
            counts = ("files_total", "files_done", "n_queued", "n_running", "n_succeeded", "n_failed", "n_cancelled")
            batches = table(
                "batches", *(column(c) for c in ("id", "name", "status", "created_at", *counts)), column("params", JSON)
            )
            conn.execute(
                insert(batches).values(
                    id=1,
                    name="b",
                    params={},
                    status="finished",
                    files_total=0,
                    files_done=0,
                    created_at=now,
                    n_queued=0,
                    n_running=0,
                    n_succeeded=1,
                    n_failed=1,
                    n_cancelled=0,
                )
            )
            jobs = table(
                "jobs",
                *(column(c) for c in ("id", "batch_id", "document_id", "model_id", "params_key", "status")),
                column("params", JSON),
                column("attempts"),
                column("error"),
                column("updated_at"),
            )
            for job_id, status, error in ((1, "failed", failed[6]), (2, "succeeded", None), (3, "queued", None)):
                conn.execute(
                    insert(jobs).values(
                        id=job_id,
                        batch_id=1,
                        document_id=job_id,
                        model_id="m",
                        params_key="k",
                        params={},
                        status=status,
                        attempts=1,
                        error=error,
                        updated_at=now,
                    )
                )
        upgrade(any_db_url, "0011")
        with engine.connect() as conn:
            documents = table("documents", column("id"), column("failure_class"))
            assert dict(conn.execute(select(documents.c.id, documents.c.failure_class)).all()) == expected
            classed = table("jobs", column("id"), column("failure_class"))
            classes = {1: "unreadable", 2: None, 3: None}
            assert dict(conn.execute(select(classed.c.id, classed.c.failure_class)).all()) == classes
        # 0012: jobs already final get change marker 1, their batch counter 1; an open job none.
        upgrade(any_db_url, "0012")
        with engine.connect() as conn:
            marked = table("jobs", column("id"), column("final_seq"))
            assert dict(conn.execute(select(marked.c.id, marked.c.final_seq)).all()) == {1: 1, 2: 1, 3: None}
            assert conn.execute(select(column("final_seq")).select_from(table("batches"))).scalar_one() == 1
        assert downgrade(any_db_url, "0010") == "0010"
        with engine.connect() as conn:
            for name in ("documents", "jobs"):
                assert "failure_class" not in {c["name"] for c in inspect(conn).get_columns(name)}
    finally:
        engine.dispose()
