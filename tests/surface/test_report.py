"""The run report: written by `docsum run --report` and `docsum report`, loaded in a real headless browser, whose
DOM must hold the batch's counts, its failures grouped by class and reason, and one row per document with its
summary."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from browser import dump_dom, screenshot
from lxml import html as lxml_html

from docsum.outages import EXIT_SOME_FAILED
from docsum.services.batches import BatchReport, ResultRecord
from docsum.services.report import build_report, render_report

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCSUM = str(REPO_ROOT / ".venv" / "bin" / "docsum")

STORY = (
    "The weather service issued a storm warning for the coast on Friday. Winds may reach ninety kilometres an hour. "
    "Ferries to the islands were cancelled and schools will close early in three districts."
)


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(DOCSUM_DATABASE_URL=f"sqlite:///{tmp_path / 'docsum.db'}", DOCSUM_DEVICE="cpu", HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


def docsum(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCSUM, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_run_report_in_a_browser(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "storm.txt").write_text(STORY)
    # A file name with markup: the page must show it as text, never run it.
    (inputs / "<img src=x onerror=\"document.title='pwned'\">.md").write_text(
        "# Fish & chips\n\n" + STORY.replace("storm", "gale")
    )
    (inputs / "broken1.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    (inputs / "broken2.pdf").write_bytes(b"%PDF-1.4\n" + b"\x01junk" * 80)
    (inputs / "empty.txt").write_bytes(b"")
    # A paginated document: every cited sentence shows its page.
    (inputs / "coral-reef.pdf").write_bytes((REPO_ROOT / "examples" / "archive" / "coral-reef.pdf").read_bytes())
    env = cli_env(tmp_path)
    page = tmp_path / "report.html"
    exported = tmp_path / "results.jsonl"

    run = docsum(["run", str(inputs), "--k", "2", "--report", str(page), "--out", str(exported)], env)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr  # finished, with three failed documents
    assert f"wrote the report to {page}" in run.stderr
    lines = run.stderr.splitlines()
    submitted = next(i for i, line in enumerate(lines) if line.startswith("batch 1 submitted"))
    assert submitted <= 1, run.stderr  # the id comes first (after the mode line), before any progress

    source = page.read_text()
    assert "<img src=x" not in source and "&lt;img src=x onerror=" in source
    assert not any(marker in source for marker in ('src="http', 'href="http', "<link", "@import", "url(")), (
        "external asset"
    )

    dom = lxml_html.fromstring(dump_dom(page))
    assert dom.findtext(".//title").startswith("docsum batch 1")  # the title the page set, not one a script set
    counts = {li.get("data-count"): li.findtext("b") for li in dom.xpath(".//ul[@id='counts']/li")}
    assert counts["documents"] == "6" and counts["succeeded"] == "3" and counts["failed"] == "3"
    assert counts["files"] == "6/6" and counts["duration"].endswith(" s") and float(counts["rate"]) > 0

    rows = dom.xpath(".//table[@id='documents']//tr[@class='doc']")
    assert len(rows) == 6
    by_status: dict[str, list] = {}
    for row in rows:
        by_status.setdefault(row.get("data-status"), []).append(row)
    assert len(by_status["succeeded"]) == 3 and len(by_status["failed"]) == 3
    for row in by_status["succeeded"]:
        items = row.xpath(".//ol[@class='summary']/li")
        assert len(items) == 2 and all("sentence" in li.text_content() for li in items)
        link = row.xpath(".//a")[0].get("href")
        assert link.startswith("file:///") and link.endswith((".txt", ".md", ".pdf"))

    # Each cited sentence shows what the export says of it: its page (PDFs) and its index, counted from 0 in both.
    records = {json.loads(line)["job_id"]: json.loads(line) for line in exported.read_text().splitlines()}
    cited = 0
    for row in by_status["succeeded"]:
        record = records[int(row.get("data-job"))]
        shown = [li.xpath(".//span[@class='cite']")[0].text_content() for li in row.xpath(".//ol[@class='summary']/li")]
        expected = [
            (f"p. {s['page']} · " if s["page"] is not None else "") + f"sentence {s['index']}"
            for s in record["sentences"]
        ]
        assert shown == expected
        if record["source_uri"].endswith(".pdf"):
            assert record["sentences"] and all(s["page"] for s in record["sentences"])
            assert all(text.startswith("p. ") for text in shown)
            cited += len(shown)
    assert cited == 2
    names = [row.xpath(".//a")[0].text_content() for row in rows]
    assert "Fish & chips" in names  # the Markdown title
    sources = [row.xpath(".//div[@class='src']")[0].text_content() for row in rows]
    assert any(src.endswith("<img src=x onerror=\"document.title='pwned'\">.md") for src in sources)  # as text
    # Paths as the user gave them: relative to the folder of the run, the full path only on hover.
    assert "storm.txt" in sources and not any(str(tmp_path) in src for src in sources), sources
    full = [row.xpath(".//div[@class='src']")[0].get("title") for row in rows]
    assert sorted(full) == sorted(str(inputs.resolve() / src) for src in sources)
    assert not dom.xpath(".//table[@id='documents']//img")

    failures = {
        (tr.get("data-class"), tr.get("data-reason")): int(tr.get("data-count"))
        for tr in dom.xpath(".//table[@id='failures']//tr[@class='failure']")
    }
    assert failures == {("unreadable", "corrupt PDF"): 2, ("no_text", "empty file"): 1}, failures

    # `docsum report` writes the same page for the same batch (but for its generation time).
    again = tmp_path / "again.html"
    report = docsum(["report", "1", "--out", str(again)], env)
    assert report.returncode == 0, report.stderr
    strip = lambda text: [line for line in text.splitlines() if "Generated by docsum" not in line]  # noqa: E731
    assert strip(again.read_text()) == strip(source)
    missing = docsum(["report", "99", "--out", str(tmp_path / "x.html")], env)
    assert missing.returncode == 2 and "batch 99 does not exist" in missing.stderr

    png = screenshot(page, tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_page_citations_show_when_results_carry_pages(tmp_path: Path) -> None:
    """Result records cite a page per summary sentence inside `sentences` (PDFs): 'p. N' shows beside each, and the
    sentence number is the record's `index`, counted from 0 as in the JSONL."""
    now = datetime.now(UTC)
    batch = BatchReport(
        7,
        "paged",
        "finished",
        "m",
        1,
        1,
        {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0},
        now,
        now,
        2.0,
    )
    record = ResultRecord(
        job_id=1,
        document_id=1,
        source_uri="/archive/a.pdf",
        title="A",
        status="succeeded",
        summary=["One.", "Two."],
        indices=[0, 4],
        scores=[0.9, 0.8],
        sentences=[
            {"text": "One.", "index": 0, "page": 1, "start": 0, "end": 4, "score": 0.9, "ocr": False},
            {"text": "Two.", "index": 4, "page": 3, "start": 30, "end": 34, "score": 0.8, "ocr": False},
        ],
    )
    page = tmp_path / "paged.html"
    page.write_text(render_report(build_report(batch, [record])))
    dom = lxml_html.fromstring(dump_dom(page))
    cites = [
        li.xpath(".//span[@class='cite']")[0].text_content()
        for li in dom.xpath(".//table[@id='documents']//ol[@class='summary']/li")
    ]
    assert cites == ["p. 1 · sentence 0", "p. 3 · sentence 4"]
    assert dom.xpath(".//p[@id='no-failures']")


def test_sources_relative_to_the_roots_and_extraction_notes_shown(tmp_path: Path) -> None:
    """A source shows below the root the user gave (an archive member after its archive, a file given alone by its
    name); with no roots kept, below the folder the documents share. What extraction left out shows beside it."""
    now = datetime.now(UTC)
    counts = {"queued": 0, "running": 0, "succeeded": 3, "failed": 0, "cancelled": 0}
    batch = BatchReport(8, "roots", "finished", "m", 3, 3, counts, now, now, 2.0)

    def record(job_id: int, source_uri: str, note: str | None = None) -> ResultRecord:
        return ResultRecord(job_id, job_id, source_uri, None, "succeeded", extraction_note=note)

    records = [
        record(1, "/srv/archive/2024/a.pdf", note="pages 3-40 not read (DOCSUM_MAX_PDF_PAGES=2)"),
        record(2, "/srv/archive/old.zip!inner/b.txt"),
        record(3, "/home/ann/single.txt"),
    ]
    report = build_report(batch, records, roots=["/srv/archive", "/home/ann/single.txt"])
    assert [d.shown_source for d in report.documents] == ["2024/a.pdf", "old.zip!inner/b.txt", "single.txt"]
    assert [d.source for d in report.documents] == [r.source_uri for r in records]  # kept whole for the hover
    without_roots = build_report(batch, records[:2])
    assert [d.shown_source for d in without_roots.documents] == ["2024/a.pdf", "old.zip!inner/b.txt"]

    page = tmp_path / "roots.html"
    page.write_text(render_report(report))
    dom = lxml_html.fromstring(dump_dom(page))
    notes = [div.text_content() for div in dom.xpath(".//div[contains(@class, 'extraction-note')]")]
    assert notes == ["pages 3-40 not read (DOCSUM_MAX_PDF_PAGES=2)"]


def test_nightly_leaves_its_report_in_the_report_dir(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "storm.txt").write_text(STORY)
    (archive / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    reports = tmp_path / "reports"
    env = cli_env(tmp_path, DOCSUM_REPORT_DIR=str(reports))

    nightly = docsum(["nightly", str(archive)], env)
    assert nightly.returncode == EXIT_SOME_FAILED, nightly.stderr  # the broken PDF failed
    (page,) = reports.glob("nightly-*-batch1.html")
    dom = lxml_html.fromstring(dump_dom(page))
    rows = dom.xpath(".//table[@id='documents']//tr[@class='doc']")
    # The nightly batch holds every new file of the run: the one summarized and the one that failed extraction.
    by_status = {row.get("data-status"): row for row in rows}
    assert sorted(by_status) == ["failed", "succeeded"]
    assert by_status["succeeded"].xpath(".//div[@class='src']")[0].text_content().endswith("storm.txt")
    assert by_status["failed"].xpath(".//div[@class='src']")[0].text_content().endswith("broken.pdf")
    assert dom.xpath(".//b[@id='batch-status']")[0].text_content() == "finished"
    # An ordinary run leaves nothing there.
    run = docsum(["run", str(archive)], env)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr
    assert [p.name for p in reports.iterdir()] == [page.name]
