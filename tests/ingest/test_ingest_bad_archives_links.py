"""Crafted bad inputs at the file and archive level: one member rule for zip and tar, reading that stops at a limit,
archives under max_file_bytes, empty archives and NUL-block gzips, links out of the walked root, UTF-8 with one bad
byte, paths too long to store."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from bad_input_cases import symlink, tar_of, utf8_page_with_one_bad_byte, write, zero_tar_gz, zip_of
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.models import Document
from docsum.db.session import make_session_factory
from docsum.ingest.decode import decode_bytes
from docsum.ingest.pipeline import ingest_file, ingest_paths

TEXT = b"The council approved the budget on Tuesday. Work on the bridge starts in May."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'docsum.db'}"
    upgrade(url)
    return Settings(database_url=url)


@pytest.fixture
def factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(settings)


def member_texts(n: int) -> dict[str, bytes]:
    return {f"m{i}.txt": TEXT + b" Number %d." % i for i in range(n)}


def test_zip_and_tar_follow_one_member_rule(tmp_path: Path, settings: Settings) -> None:
    stopped = (
        "archive has more than 3 members (max_archive_members): reading stopped after 3 members, "
        "the rest of the archive was not read"
    )
    for name, data in (("many.zip", zip_of(member_texts(5))), ("many.tar.gz", tar_of(member_texts(5)))):
        url = f"sqlite:///{tmp_path / name}.db"  # a database each: the same members would be duplicates the second time
        upgrade(url)
        few = settings.model_copy(update={"max_archive_members": 3, "database_url": url})
        path = write(tmp_path / name, data)
        items = ingest_file(make_session_factory(few), path, few)
        assert [i.outcome for i in items] == ["ingested", "ingested", "ingested", "failed"], name
        assert [i.source_uri.rsplit("!", 1)[-1] for i in items[:3]] == ["m0.txt", "m1.txt", "m2.txt"]
        assert (items[3].source_uri, items[3].reason) == (str(path.absolute()), stopped)


def test_archives_are_files_under_max_file_bytes(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    path = write(tmp_path / "big.zip", zip_of({"a.bin": os.urandom(4000)}))
    small = settings.model_copy(update={"max_file_bytes": 1000})
    [item] = ingest_file(factory, path, small)
    assert item.outcome == "failed" and item.reason == f"oversized: {path.stat().st_size} bytes (limit 1000)"
    assert item.failure == "too_large"


def test_empty_archives_and_nul_block_gzip_leave_a_failed_row(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    empty_tar = write(tmp_path / "empty.tar", tar_of({}, mode="w"))
    zeros = write(tmp_path / "zeros.gz", zero_tar_gz(8))
    report = ingest_paths(factory, [empty_zip, empty_tar, zeros], settings)
    reasons = {Path(i.source_uri.split("!")[0]).name: (i.outcome, i.reason) for i in report.items}
    assert reasons["empty.zip"] == ("failed", "empty archive (zip): no files in it")
    assert reasons["empty.tar"] == ("failed", "unsupported content: binary data")  # only end-of-archive NUL blocks
    assert reasons["zeros.gz"] == ("failed", "compression ratio above 200 (max_archive_ratio; zip bomb?)")
    with factory() as session:
        stored = {Path(d.source_uri.split("!")[0]).name: d.failure_class for d in session.scalars(select(Document))}
    assert stored == {"empty.zip": "no_text", "empty.tar": "unsupported", "zeros.gz": "too_large"}


def test_tar_reading_stops_when_an_archive_wide_limit_trips(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    members = {"a.txt": TEXT, "b.txt": TEXT + b" Second.", "c.txt": TEXT + b" Third."}
    path = write(tmp_path / "t.tar", tar_of(members, mode="w"))
    capped = settings.model_copy(update={"max_archive_bytes": len(TEXT) + 10})
    items = ingest_file(factory, path, capped)
    assert [i.source_uri.rsplit("/", 1)[-1] for i in items] == ["t.tar!a.txt", "t.tar!b.txt", "t.tar"]
    assert items[2].reason.endswith("reading stopped after 2 members, the rest of the archive was not read")


def test_file_links_out_of_the_walked_root_are_not_followed(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    secret = write(tmp_path / "outside" / "secret.txt", b"Top secret numbers. Nobody should read these here.")
    root = tmp_path / "root"
    write(root / "inside.txt", TEXT)
    symlink(root / "escape.txt", secret)
    symlink(root / "sub" / "alias.txt", root / "inside.txt")  # a link inside the root is fine
    report = ingest_paths(factory, [root], settings)
    outcomes = {Path(i.source_uri).name: (i.outcome, i.reason) for i in report.items}
    assert outcomes["escape.txt"] == ("failed", f"symbolic link out of {root} not followed (-> {secret})")
    assert outcomes["inside.txt"] == ("ingested", None)
    assert outcomes["alias.txt"][0] == "duplicate"
    with factory() as session:
        texts = [d.text or "" for d in session.scalars(select(Document))]
    assert not any("secret" in t.lower() for t in texts)


def test_utf8_with_one_invalid_byte_stays_utf8() -> None:
    text, encoding = decode_bytes(utf8_page_with_one_bad_byte())
    assert encoding == "utf-8"
    assert "Zürich café" in text and "naïve façade" in text and text.count("\ufffd") == 1
    # Latin-1 text that happens to be mostly ASCII is not taken for UTF-8.
    latin, latin_encoding = decode_bytes("Le café est fermé. La réunion est lundi.".encode("latin-1"))
    assert latin_encoding != "utf-8" and "café" in latin


def test_a_path_too_long_to_store_is_refused_not_cut(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    deep = tmp_path
    while len(str(deep)) < 2100:
        deep = deep / ("d" * 200)
    path = write(deep / "story.txt", TEXT)
    [item] = ingest_file(factory, path, settings)
    assert item.outcome == "failed" and item.document_id is None
    assert item.reason == f"path longer than 2048 characters ({len(str(path.absolute()))}): not stored"


def test_a_text_past_max_text_chars_is_cut_at_a_sentence_end_with_a_note(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    """What extraction returns is what the worker stores, splits and tokenizes: a text of a million sentences is cut
    before it reaches the worker (bounded memory), and the document says so."""
    sentence = "The council voted on item {} of the agenda. "
    text = "".join(sentence.format(i) for i in range(1000))
    path = write(tmp_path / "minutes.txt", text.encode())
    capped = settings.model_copy(update={"max_text_chars": 10_000})
    [item] = ingest_paths(factory, [path], capped).items
    assert item.outcome == "ingested"
    with factory() as session:
        doc = session.get(Document, item.document_id)
    assert len(doc.text) <= 10_000 and doc.text.endswith("of the agenda.")
    assert doc.sentences[-1].endswith("of the agenda.") and len(doc.sentences) < 1000
    assert doc.notes == (
        f"text cut to its first {len(doc.text):,} of {len(text.strip()):,} characters (max_text_chars): "
        "the rest is not summarized"
    )


def test_the_pdf_page_cap_and_the_html_cut_leave_a_mark(
    tmp_path: Path, factory: sessionmaker[Session], settings: Settings
) -> None:
    from ingest_helpers import make_pdf

    sentences = ["The river rose two metres overnight.", "Crews built a wall of sandbags by morning."]
    pdf = write(tmp_path / "long.pdf", make_pdf([sentences, sentences + ["Page two."], sentences + ["Page three."]]))
    paragraph = "<p>Paragraph {} says something about the harbour and the ships in it.</p>"
    paragraphs = "".join(paragraph.format(i) for i in range(40))
    page = write(
        tmp_path / "long.html",
        f"<html><head><title>T</title></head><body><article>{paragraphs}</article></body></html>".encode(),
    )
    capped = settings.model_copy(update={"max_pdf_pages": 2, "max_html_chars": 1500})
    report = ingest_paths(factory, [pdf, page], capped)
    assert [i.outcome for i in report.items] == ["ingested", "ingested"]
    with factory() as session:
        docs = {Path(d.source_uri).name: d for d in session.scalars(select(Document))}
    assert docs["long.pdf"].page_count == 2
    assert docs["long.pdf"].notes == "only the first 2 of 3 pages extracted (max_pdf_pages)"
    size = len(page.read_text())
    assert docs["long.html"].notes == (
        f"page cut to its first 1500 of {size} characters before extraction (max_html_chars)"
    )
    # Uncut documents carry no note.
    url = f"sqlite:///{tmp_path / 'uncut.db'}"
    upgrade(url)
    whole = ingest_paths(make_session_factory(Settings(database_url=url)), [pdf, page], Settings(database_url=url))
    assert [i.outcome for i in whole.items] == ["ingested", "ingested"]
    with make_session_factory(Settings(database_url=url))() as session:
        assert {d.notes for d in session.scalars(select(Document))} == {None}
