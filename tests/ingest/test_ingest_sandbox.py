"""Hard limits on one document's extraction: a wall-clock limit and a memory ceiling that hold in C code and in any
thread, because the document is extracted in a child process that is killed when it runs over."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from bad_input_cases import flate_bomb_pdf, single_line_html, stalling_html, write
from sqlalchemy.orm import Session, sessionmaker

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.session import make_session_factory
from docsum.ingest import sandbox
from docsum.ingest.errors import ExtractionError
from docsum.ingest.pipeline import ingest_paths
from docsum.ingest.sandbox import extract_isolated

ARTICLE = "<html><head><title>Fine</title></head><body><article>" + "<p>A normal page has a sentence here.</p>" * 5
GOOD_PAGE = (ARTICLE + "</article></body></html>").encode()
# No cut before trafilatura here: these pages must reach it whole to show the wall-clock limit.
STALL = Settings(database_url="sqlite://", max_extract_seconds=1, max_html_chars=10**9)


def reason(data: bytes, name: str, settings: Settings) -> str:
    with pytest.raises(ExtractionError) as failed:
        extract_isolated(data, name, settings)
    return failed.value.reason


def child_pids() -> set[int]:
    return {child.process.pid for child in sandbox._pool.idle}


def test_a_stall_in_c_code_is_killed_at_the_wall_clock_limit_in_the_main_thread() -> None:
    sandbox._pool.close_all()  # one extraction process from here on, whatever earlier tests left idle
    assert extract_isolated(GOOD_PAGE, "good.html", STALL).title == "Fine"
    before = child_pids()
    # Pages trafilatura's XPath (C code, no signal gets in) runs on for many seconds.
    assert reason(stalling_html(), "huge.html", STALL) == "extraction exceeded 1 s"
    assert reason(single_line_html(3_000_000), "line.html", STALL) == "extraction exceeded 1 s"
    # The stalled process was killed, and a fresh one extracts the next document.
    assert extract_isolated(GOOD_PAGE, "good.html", STALL).title == "Fine"
    assert not before & child_pids()


def test_the_limit_holds_in_worker_threads() -> None:
    reasons: list[str] = []
    threads = [
        threading.Thread(target=lambda: reasons.append(reason(stalling_html(), "huge.html", STALL))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reasons == ["extraction exceeded 1 s"] * 2


def test_a_decompression_bomb_stops_at_the_memory_ceiling() -> None:
    settings = Settings(database_url="sqlite://", max_extract_seconds=30, max_extract_memory_mib=512)
    bomb = flate_bomb_pdf(1024)  # 1 MB on disk, a 1 GiB content stream
    assert len(bomb) < 2_000_000
    assert reason(bomb, "bomb.pdf", settings) == "extraction exceeded memory limit of 512 MiB"
    assert extract_isolated(GOOD_PAGE, "good.html", settings).title == "Fine"


def test_pages_are_cut_before_the_html_extractor() -> None:
    head = "<p>Alpha paragraph opens the page and it is long enough to be kept.</p>" * 3
    tail = "<p>Omega paragraph closes the page and it is long enough to be kept.</p>" * 3
    filler = "<div>x</div>" * 2000
    page = f"<html><head><title>Cut</title></head><body><article>{head}{filler}{tail}</article></body></html>"
    whole = extract_isolated(page.encode(), "p.html", Settings(database_url="sqlite://"))
    assert "Alpha" in whole.text and "Omega" in whole.text
    cut = extract_isolated(page.encode(), "p.html", Settings(database_url="sqlite://", max_html_chars=len(page) // 2))
    assert "Alpha" in cut.text and "Omega" not in cut.text


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'docsum.db'}"
    upgrade(url)
    return make_session_factory(Settings(database_url=url))


@pytest.mark.parametrize(
    ("runaway", "limits", "reason", "failure"),
    [
        # A stall in C code, stopped at the wall-clock limit (it would run for 15 s here).
        (("a-stall.html", stalling_html), {"max_extract_seconds": 1}, "extraction exceeded 1 s", "timeout"),
        # A decompression bomb, stopped at the memory ceiling; the clock is generous, so that a busy machine, which
        # inflates it more slowly, still meets the ceiling first.
        (
            ("a-bomb.pdf", lambda: flate_bomb_pdf(1024)),
            {"max_extract_seconds": 60, "max_extract_memory_mib": 512},
            "extraction exceeded memory limit of 512 MiB",
            "too_large",
        ),
    ],
)
def test_runaways_fail_with_their_reason_and_the_run_goes_on(
    tmp_path: Path, factory: sessionmaker[Session], runaway, limits: dict, reason: str, failure: str
) -> None:
    settings = Settings(database_url="sqlite://", max_html_chars=10**9, **limits)
    name, make = runaway
    files = [write(tmp_path / "in" / name, make()), write(tmp_path / "in" / "b-good.html", GOOD_PAGE)]
    report = ingest_paths(factory, [tmp_path / "in"], settings)
    assert [(Path(i.source_uri).name, i.outcome, i.reason, i.failure) for i in report.items] == [
        (files[0].name, "failed", reason, failure),
        (files[1].name, "ingested", None, None),
    ]


def _tesseracts() -> list[int]:
    """Tesseract processes that still run."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or (entry / "comm").read_text().strip() != "tesseract":
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":  # a zombie is dead, not reaped
                found.append(int(entry.name))
        except OSError:  # it ended while we looked
            continue
    return found


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed (make ocr)")
def test_a_killed_extraction_process_takes_its_ocr_process_with_it() -> None:
    """Tesseract runs in its own process under the extraction child. The child's own time limit stops it, but a
    child killed from outside (a limit that did not fire in C code, a worker shutting down) must take it along
    instead of leaving it to run on, orphaned, to the end of its page."""
    import io
    import random

    from fpdf import FPDF
    from PIL import Image

    noise = Image.frombytes("L", (1600, 2200), random.Random(0).randbytes(1600 * 2200))
    picture = io.BytesIO()
    noise.save(picture, format="PNG")
    pdf = FPDF()
    for _ in range(2):  # noise pages: Tesseract takes seconds on each (about 5 s here at 450 dpi)
        pdf.add_page()
        pdf.image(io.BytesIO(picture.getvalue()), x=0, y=0, w=210, h=297)
    slow_ocr = Settings(database_url="sqlite://", max_extract_seconds=120, ocr_page_seconds=120, ocr_dpi=450)
    assert _tesseracts() == []
    child = sandbox._Child(slow_ocr.max_extract_memory_mib)
    try:
        sandbox._send(child.stdin, (bytes(pdf.output()), "scan.pdf", slow_ocr))
        deadline = time.monotonic() + 60
        while not _tesseracts():
            assert time.monotonic() < deadline, "Tesseract never started"
            time.sleep(0.05)
        time.sleep(0.5)  # it has read its page and is at work (killed while reading, it would just exit)
        assert _tesseracts(), "Tesseract ended too soon: the test proves nothing"
    finally:
        child.kill()
    deadline = time.monotonic() + 1  # a killed process is gone at once; an orphan would finish its page (seconds)
    while _tesseracts() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tesseracts() == []
