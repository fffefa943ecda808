"""One directory walker for `docsum run`, `docsum ingest` and the nightly scan: one rule for links (followed only
inside the walked root), and every entry it does not read (a link loop, a dangling link, a link out of the root, a
link to a directory, a FIFO, a socket) ends as a skipped entry with its reason, stored as a failed document: never
a traceback, never silent, and nothing behind the entry read."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_input_cases import write
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.models import Document, Job
from docsum.db.session import make_session_factory
from docsum.ingest.pipeline import ingest_paths
from docsum.ingest.walk import walk
from docsum.services import archive, batches, nightly
from docsum.services.models import ModelRef

TEXT = b"The council approved the budget on Tuesday. Work on the bridge starts in May."
SECRET = b"Top secret numbers. Nobody should read these here."


def odd_tree(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A root with one good file and every kind of entry that must be skipped; returns (root, secret, reasons)."""
    secret = write(tmp_path / "outside" / "secret.txt", SECRET)
    root = tmp_path / "root"
    write(root / "good.txt", TEXT)
    os.symlink("loop.txt", root / "loop.txt")  # ln -s loop.txt loop.txt
    os.symlink(root / "b-ping", root / "a-pong")
    os.symlink(root / "a-pong", root / "b-ping")
    os.symlink(root / "gone.txt", root / "dangling.txt")
    os.symlink(secret, root / "escape.txt")
    os.symlink(tmp_path / "outside", root / "outdir")
    (root / "sub").mkdir()
    os.symlink(root / "sub", root / "subdir-link")
    os.symlink(root / "good.txt", root / "sub" / "alias.txt")  # inside the root: read
    os.mkfifo(root / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    server.close()
    reasons = {
        "loop.txt": "symbolic link loop (-> loop.txt)",
        "a-pong": f"symbolic link loop (-> {root / 'b-ping'})",
        "b-ping": f"symbolic link loop (-> {root / 'a-pong'})",
        "dangling.txt": f"dangling symbolic link (-> {root / 'gone.txt'})",
        "escape.txt": f"symbolic link out of {root} not followed (-> {secret})",
        "outdir": f"symbolic link out of {root} not followed (-> {tmp_path / 'outside'})",
        "subdir-link": f"symbolic link to a directory not followed (-> {root / 'sub'})",
        "pipe": "not a regular file: a FIFO (named pipe)",
        "sock": "not a regular file: a socket",
    }
    return root, secret, reasons


# The class stored beside each reason: what cannot be read, and what docsum does not read.
CLASSES = {
    "loop.txt": "unreadable",
    "a-pong": "unreadable",
    "b-ping": "unreadable",
    "dangling.txt": "unreadable",
    "escape.txt": "unsupported",
    "outdir": "unsupported",
    "subdir-link": "unsupported",
    "pipe": "unsupported",
    "sock": "unsupported",
}


def test_the_walker_gives_every_entry_it_does_not_read_a_reason(tmp_path: Path) -> None:
    root, _secret, reasons = odd_tree(tmp_path)
    found = list(walk([root]))
    assert {f.path.name: f.skip for f in found if f.skip} == reasons
    assert {f.path.name: f.failure for f in found if f.skip} == CLASSES
    assert sorted(f.path.name for f in found if f.skip is None) == ["alias.txt", "good.txt"]
    assert all(f.size == len(TEXT) for f in found if f.skip is None)
    # Given explicitly, a loop or a FIFO is a skipped entry too, never an exception; a missing path is the reader's.
    given = {f.path.name: f.skip for f in walk([root / "loop.txt", root / "pipe", root / "nothing.txt"])}
    assert given == {"loop.txt": reasons["loop.txt"], "pipe": reasons["pipe"], "nothing.txt": None}


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'docsum.db'}"
    upgrade(url)
    yield make_session_factory(url)


def test_ingest_stores_each_skipped_entry_with_its_reason(tmp_path: Path, factory: sessionmaker[Session]) -> None:
    root, _secret, reasons = odd_tree(tmp_path)
    settings = Settings(database_url=str(factory.kw["bind"].url))
    report = ingest_paths(factory, [root], settings)
    failed = {Path(i.source_uri).name: i.reason for i in report.items if i.outcome == "failed"}
    assert failed == reasons
    with factory() as session:
        stored = {Path(d.source_uri).name: d.error for d in session.scalars(select(Document)) if d.error}
        texts = [d.text or "" for d in session.scalars(select(Document))]
    assert stored == reasons
    with factory() as session:
        classes = {Path(d.source_uri).name: d.failure_class for d in session.scalars(select(Document)) if d.error}
    assert classes == CLASSES
    assert {Path(i.source_uri).name: i.failure for i in report.items if i.outcome == "failed"} == CLASSES
    assert not any("secret" in t.lower() for t in texts)
    # The same walk again records nothing twice.
    ingest_paths(factory, [root], settings)
    with factory() as session:
        assert len(session.scalars(select(Document)).all()) == len(reasons) + 1


def test_the_nightly_scan_follows_the_same_rule_and_stores_what_it_skipped(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    root, secret, reasons = odd_tree(tmp_path)
    with factory() as session:
        found = archive.scan(session, [str(root)])
    assert str(secret) not in found.new and sorted(Path(p).name for p in found.new) == ["alias.txt", "good.txt"]
    assert {Path(p).name: f for p, _r, f in found.not_read} == CLASSES
    assert {Path(p).name: r for p, r, _f in found.not_read} == {
        # The scan walks the resolved root, so link targets inside it read from there.
        name: reason.replace(str(root), str(root.resolve()))
        for name, reason in reasons.items()
    }
    assert found.counts()["unreadable"] == len(reasons)

    model = ModelRef(path=None, model_id="test-model@0")
    outcome = nightly.plan_nightly(factory, [str(root)], model, batches.job_params(3))
    with factory() as session:
        jobs = session.execute(
            select(Document.source_uri, Job.status, Job.error).join(Job, Job.document_id == Document.id)
        ).all()
    assert {Path(uri).name: (str(status), error) for uri, status, error in jobs} == {
        name: ("failed", reason.replace(str(root), str(root.resolve()))) for name, reason in reasons.items()
    }
    assert outcome.scan["unreadable"] == len(reasons)
