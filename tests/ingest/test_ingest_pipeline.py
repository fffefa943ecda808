"""Storing documents through ingest_paths / ingest_file on SQLite and PostgreSQL: bad input is a failed row with a
reason, never an exception, and the other documents of the same run are stored; dedupe by content hash."""

from __future__ import annotations

import io
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_helpers import ARTICLE, html_page, image_only_pdf, make_pdf, tar_bytes, zip_bytes, zip_with_symlink
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from docsum.cli import app
from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.models import Document, DocumentStatus
from docsum.db.session import dispose_engine, make_session_factory
from docsum.ingest.pipeline import IngestReport, ingest_file, ingest_paths

GOOD_TEXT = b"The ferry service resumed on Friday after a week of storms. Passengers queued from early morning.\n"


@pytest.fixture
def settings(any_db_url: str) -> Settings:
    return Settings(database_url=any_db_url)


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    upgrade(settings.database_url)
    yield make_session_factory(settings.database_url)
    dispose_engine(settings.database_url)


def documents(factory: sessionmaker[Session]) -> dict[str, Document]:
    with factory() as session:
        return {d.source_uri: d for d in session.scalars(select(Document))}


def by_name(report: IngestReport) -> dict[str, object]:
    return {item.source_uri.rsplit("/", 1)[-1]: item for item in report.items}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_mixed_directory_good_and_bad_documents(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    root = tmp_path / "in"
    write(root / "a-article.pdf", make_pdf([ARTICLE, ARTICLE[:1]]))
    write(root / "b-scan.pdf", image_only_pdf())
    write(root / "c-locked.pdf", make_pdf([ARTICLE], password="secret"))
    write(root / "d-junk.pdf", bytes((i * 7919) % 256 for i in range(4096)))
    write(root / "e-empty.txt", b"")
    write(root / "f-really-a-pdf.txt", make_pdf([["A PDF hiding behind a text extension. It still extracts."]]))
    write(root / "g-page.html", html_page(ARTICLE, charset="iso-8859-1"))
    write(root / "sub" / "h-note.md", b"# Storm update\n\nThe *ferry* resumed. See [the timetable](http://x).\n")
    write(root / "sub" / "i-cut.pdf", make_pdf([ARTICLE])[:250])
    write(root / "sub" / "j-story.txt", GOOD_TEXT)
    write(root / ".hidden.txt", GOOD_TEXT + b"hidden")

    seen: list[str] = []
    report = ingest_paths(factory, [root], settings, progress=lambda path, items: seen.append(path.name))

    # sorted, recursive, hidden files skipped, progress once per file
    assert seen == [
        "a-article.pdf",
        "b-scan.pdf",
        "c-locked.pdf",
        "d-junk.pdf",
        "e-empty.txt",
        "f-really-a-pdf.txt",
        "g-page.html",
        "h-note.md",
        "i-cut.pdf",
        "j-story.txt",
    ]
    items = by_name(report)
    reasons = {name: item.reason for name, item in items.items() if item.outcome == "failed"}
    assert reasons == {
        "b-scan.pdf": "no text layer (image-only pages (a scan); OCR found no text)",
        "c-locked.pdf": "encrypted (password required)",
        "d-junk.pdf": "unsupported content: binary data (named .pdf, but the content is not application/pdf)",
        "e-empty.txt": "empty file (0 bytes)",
        "i-cut.pdf": reasons["i-cut.pdf"],
    }
    assert reasons["i-cut.pdf"].startswith("corrupt PDF")
    # Each reason's class travels with it from the extractor (a scan OCR found nothing in has no text; a locked or
    # mislabelled file is one docsum does not read; a cut one cannot be read).
    assert {name: item.failure for name, item in items.items() if item.outcome == "failed"} == {
        "b-scan.pdf": "no_text",
        "c-locked.pdf": "unsupported",
        "d-junk.pdf": "unsupported",
        "e-empty.txt": "no_text",
        "i-cut.pdf": "unreadable",
    }
    assert report.counts() == {"ingested": 5, "duplicate": 0, "failed": 5}

    stored = documents(factory)
    assert len(stored) == 10
    for item in report.items:
        doc = stored[item.source_uri]
        assert doc.id == item.document_id and doc.content_sha256 and len(doc.content_sha256) == 64
        if item.outcome == "failed":
            assert doc.status == DocumentStatus.failed and doc.error == item.reason and doc.text is None
        else:
            assert doc.status == DocumentStatus.extracted and doc.error is None and doc.sentences
    pdf = stored[str((root / "a-article.pdf").absolute())]
    assert (pdf.media_type, pdf.page_count, pdf.title, pdf.published) == (
        "application/pdf",
        2,
        "Reservoirs recover",
        "2024-01-15T10:30:00+00:00",
    )
    assert pdf.text.count("\f") == 1 and pdf.sentences == ARTICLE + ARTICLE[:1]
    assert stored[str((root / "f-really-a-pdf.txt").absolute())].media_type == "application/pdf"
    page = stored[str((root / "g-page.html").absolute())]
    assert page.media_type == "text/html" and page.sentences[-4:] == ARTICLE and page.language == "en"
    assert stored[str((root / "b-scan.pdf").absolute())].media_type == "application/pdf"


def test_dedupe_same_bytes_and_reruns(tmp_path: Path, factory: sessionmaker[Session], settings: Settings) -> None:
    a = write(tmp_path / "a.txt", GOOD_TEXT)
    b = write(tmp_path / "copy-of-a.txt", GOOD_TEXT)
    bad = write(tmp_path / "bad.pdf", image_only_pdf())
    bad2 = write(tmp_path / "bad-again.pdf", image_only_pdf())
    missing = tmp_path / "missing.txt"

    first = ingest_paths(factory, [a, b, bad, bad2, missing], settings)
    outcomes = [(i.outcome, i.document_id) for i in first.items]
    assert outcomes[0][0] == "ingested" and outcomes[1] == ("duplicate", outcomes[0][1])
    assert outcomes[2][0] == "failed" and outcomes[3] == ("duplicate", outcomes[2][1])
    # a path that does not exist is reported, not stored
    assert outcomes[4] == ("failed", None) and first.items[4].reason.startswith("not found")

    second = ingest_paths(factory, [a, bad], settings)
    assert [(i.outcome, i.document_id) for i in second.items] == [
        ("duplicate", outcomes[0][1]),
        ("duplicate", outcomes[2][1]),
    ]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 2


def test_failed_document_that_now_extracts_moves_to_extracted(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    capped = settings.model_copy(update={"max_extract_seconds": 0.0})  # every PDF times out
    path = write(tmp_path / "a.pdf", make_pdf([ARTICLE]))
    [first] = ingest_file(factory, path, capped)
    assert first.outcome == "failed" and first.reason == "extraction exceeded 0 s"
    [second] = ingest_file(factory, path, settings)
    assert (second.outcome, second.document_id) == ("ingested", first.document_id)
    doc = documents(factory)[str(path.absolute())]
    assert doc.status == DocumentStatus.extracted and doc.error is None and doc.sentences == ARTICLE


def test_zip_members_traversal_symlink_and_bomb(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    outside = tmp_path / "escaped.txt"
    members = {
        "docs/story.txt": GOOD_TEXT,
        "docs/page.html": html_page(ARTICLE),
        "../escaped.txt": GOOD_TEXT + b"x",
        "/etc/passwd-copy.txt": GOOD_TEXT + b"y",
        "docs/bomb.txt": b"\0" * (8 << 20),  # 8 MiB of zeros: ratio ~1000
        "docs/copy.txt": GOOD_TEXT,
        "docs/nested.zip": zip_bytes({"inner.txt": GOOD_TEXT}),
    }
    archive = write(tmp_path / "in.zip", zip_bytes(members))
    write(tmp_path / "links.zip", zip_with_symlink("/etc/passwd"))

    report = ingest_paths(factory, [archive, tmp_path / "links.zip"], settings)
    items = {i.source_uri.split("!", 1)[1]: i for i in report.items}
    # members go in name order: docs/copy.txt comes first, docs/story.txt (same bytes) is its duplicate
    assert items["docs/copy.txt"].outcome == "ingested"
    assert items["docs/page.html"].outcome == "ingested"
    assert items["docs/story.txt"].outcome == "duplicate"
    assert items["docs/story.txt"].document_id == items["docs/copy.txt"].document_id
    assert items["../escaped.txt"].reason == "unsafe member path '../escaped.txt' (parent directory '..')"
    assert items["/etc/passwd-copy.txt"].reason == "unsafe member path '/etc/passwd-copy.txt' (absolute)"
    assert items["docs/bomb.txt"].reason == "compression ratio above 200 (max_archive_ratio; zip bomb?)"
    assert items["docs/nested.zip"].reason.startswith("nested archive")
    assert items["link.txt"].reason == "symlink member not ingested"
    assert items["ok.txt"].outcome == "ingested"
    # nothing written outside (or inside) the target: members are read in memory only
    assert not outside.exists()
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith("docsum.db")} == {"in.zip", "links.zip"}

    stored = documents(factory)
    traversal = stored[f"{archive.absolute()}!../escaped.txt"]
    assert traversal.status == DocumentStatus.failed and traversal.content_sha256 is None  # no bytes were read
    assert stored[f"{archive.absolute()}!docs/copy.txt"].sentences == [
        "The ferry service resumed on Friday after a week of storms.",
        "Passengers queued from early morning.",
    ]

    # Unreadable members dedupe on (source_uri, error): a second run adds nothing.
    again = ingest_paths(factory, [archive], settings)
    assert {i.outcome for i in again.items} == {"duplicate"}
    assert len(documents(factory)) == len(stored)


def test_archive_limits_members_total_and_declared_size(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    many = write(tmp_path / "many.zip", zip_bytes({f"f{i}.txt": b"x %d." % i for i in range(6)}))
    few_members = settings.model_copy(update={"max_archive_members": 5})
    items = ingest_file(factory, many, few_members)
    assert [i.outcome for i in items] == ["ingested"] * 5 + ["failed"]
    assert items[-1].source_uri == str(many.absolute()) and items[-1].reason == (
        "archive has more than 5 members (max_archive_members): reading stopped after 5 members, "
        "the rest of the archive was not read"
    )

    total = write(
        tmp_path / "total.zip",
        zip_bytes(
            {f"{i}.txt": f"Document number {i} has its own sentence. ".encode() * 40 for i in range(4)},
            compression=zipfile.ZIP_STORED,
        ),
    )
    small_total = settings.model_copy(update={"max_archive_bytes": 3500})
    items = ingest_file(factory, total, small_total)
    assert [i.outcome for i in items] == ["ingested", "ingested", "failed", "failed"]
    assert items[2].reason == "archive expands beyond 3500 bytes in total (max_archive_bytes)"
    assert items[3].source_uri == str(total.absolute()) and items[3].reason == (
        "archive expands beyond 3500 bytes in total (max_archive_bytes): reading stopped after 3 members, "
        "the rest of the archive was not read"
    )

    # A header that under-declares the size does not get past the limit while reading.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("big.txt", b"word " * 400)
    lying = bytearray(buffer.getvalue())
    central = lying.rindex(b"PK\x01\x02")  # central directory entry: uncompressed size at offset 24
    lying[central + 24 : central + 28] = (10).to_bytes(4, "little")
    path = write(tmp_path / "lying.zip", bytes(lying))
    tiny = settings.model_copy(update={"max_file_bytes": 1000})
    [lie] = ingest_file(factory, path, tiny)
    assert lie.outcome == "failed" and lie.reason.startswith(("oversized", "corrupt archive member"))


def test_tar_gz_members_links_devices_traversal(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    data = tar_bytes(
        {"./news/story.txt": GOOD_TEXT, "news/../../evil.txt": GOOD_TEXT + b"!", "news/page.html": html_page(ARTICLE)},
        links={"news/passwd.txt": "/etc/passwd"},
        devices=["news/null"],
    )
    for name in ("in.tar.gz", "in.tgz"):
        write(tmp_path / name, data)
    write(tmp_path / "plain.tar", tar_bytes({"a.txt": GOOD_TEXT + b" Plain tar."}, mode="w"))
    report = ingest_paths(factory, [tmp_path / "in.tar.gz", tmp_path / "in.tgz", tmp_path / "plain.tar"], settings)
    first = {i.source_uri.split("!", 1)[1]: i for i in report.items if "in.tar.gz" in i.source_uri}
    assert first["news/story.txt"].outcome == "ingested"
    assert first["news/page.html"].outcome == "ingested"
    assert first["news/../../evil.txt"].reason == "unsafe member path 'news/../../evil.txt' (parent directory '..')"
    assert first["news/passwd.txt"].reason == "link member not ingested (-> '/etc/passwd')"
    assert first["news/null"].reason == "device or special file member not ingested"
    assert {first[m].failure for m in ("news/../../evil.txt", "news/passwd.txt", "news/null")} == {"unsupported"}
    second = [i for i in report.items if "in.tgz" in i.source_uri]
    assert {i.outcome for i in second if "story" in i.source_uri or "page" in i.source_uri} == {"duplicate"}
    assert [i.outcome for i in report.items if "plain.tar" in i.source_uri] == ["ingested"]
    assert not (tmp_path.parent / "evil.txt").exists()


def test_gzip_tar_bomb_and_single_gz(tmp_path: Path, factory: sessionmaker[Session], settings: Settings) -> None:
    import gzip

    bomb = write(tmp_path / "bomb.tar.gz", tar_bytes({"zeros.txt": b"\0" * (4 << 20), "after.txt": GOOD_TEXT}))
    page = write(tmp_path / "page.html.gz", gzip.compress(html_page(ARTICLE)))
    report = ingest_paths(factory, [bomb, page], settings)
    reasons = {i.source_uri.rsplit("/", 1)[1]: (i.outcome, i.reason) for i in report.items}
    assert reasons["bomb.tar.gz!zeros.txt"] == ("failed", "compression ratio above 200 (max_archive_ratio; zip bomb?)")
    # the archive's budget is spent: reading stops there, after.txt is never inflated
    assert reasons["bomb.tar.gz"] == (
        "failed",
        "compression ratio above 200 (max_archive_ratio; zip bomb?): reading "
        "stopped after 1 members, the rest of the archive was not read",
    )
    assert "bomb.tar.gz!after.txt" not in reasons
    assert reasons["page.html.gz!page.html"] == ("ingested", None)
    classes = {i.source_uri.rsplit("/", 1)[1]: i.failure for i in report.items}
    assert (classes["bomb.tar.gz!zeros.txt"], classes["bomb.tar.gz"]) == ("too_large", "too_large")


def test_oversized_file_is_not_read(tmp_path: Path, factory: sessionmaker[Session], settings: Settings) -> None:
    big = write(tmp_path / "big.txt", GOOD_TEXT * 100)
    small = write(tmp_path / "small.txt", GOOD_TEXT)
    tiny = settings.model_copy(update={"max_file_bytes": 1000})
    report = ingest_paths(factory, [big, small], tiny)
    assert report.items[0].reason == f"oversized: {big.stat().st_size} bytes (limit 1000)"
    assert report.items[1].outcome == "ingested"
    doc = documents(factory)[str(big.absolute())]
    assert doc.status == DocumentStatus.failed and doc.content_sha256 is None and doc.byte_size == big.stat().st_size


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo (POSIX)")
def test_fifo_is_not_opened(tmp_path: Path, factory: sessionmaker[Session], settings: Settings) -> None:
    os.mkfifo(tmp_path / "pipe.txt")  # opening it would block forever
    write(tmp_path / "z.txt", GOOD_TEXT)
    report = ingest_paths(factory, [tmp_path], settings)
    names = by_name(report)
    assert names["pipe.txt"].reason == "not a regular file: a FIFO (named pipe)"
    assert names["z.txt"].outcome == "ingested"


def test_concurrent_ingest_of_the_same_files_stores_each_once(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    files = [write(tmp_path / f"{i}.txt", b"Story %d happened today. It was reported widely." % i) for i in range(6)]
    reports: list[IngestReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(ingest_paths(factory, files, settings))
        except BaseException as err:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 6
    for position in range(6):
        outcomes = sorted(r.items[position].outcome for r in reports)
        assert outcomes == ["duplicate", "duplicate", "ingested"]
        assert len({r.items[position].document_id for r in reports}) == 1


def test_cli_ingest_examples(tmp_path: Path, any_db_url: str) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "archive"
    result = CliRunner().invoke(app, ["ingest", str(examples), "--database-url", any_db_url])
    assert result.exit_code == 0, result.output
    assert "ingested" in result.output and "failed documents" in result.output
    factory = make_session_factory(any_db_url)
    with factory() as session:
        statuses = dict(session.execute(select(Document.status, func.count()).group_by(Document.status)).all())
        failed = session.scalars(select(Document).where(Document.status == DocumentStatus.failed)).one()
    dispose_engine(any_db_url)
    assert statuses == {DocumentStatus.extracted: 7, DocumentStatus.failed: 1}  # 9 files, one a duplicate
    assert failed.source_uri.endswith("damaged-report.pdf") and failed.error.startswith("corrupt PDF")

    missing = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope"), "--database-url", any_db_url])
    assert missing.exit_code == 2 and "nothing to ingest" in missing.output
