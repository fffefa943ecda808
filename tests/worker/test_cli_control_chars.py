"""Nothing a file's name or content holds can drive a terminal or break a table: control characters (ESC sequences,
a title-setting OSC, BEL, a newline, a right-to-left override) are shown escaped in `docsum run`'s table and
messages, `docsum batches`, the run report and the CSV export, while the database and the JSONL export keep them as
they are."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

from test_worker_embedded import cli_env, docsum

from docsum.services.display import printable
from docsum.services.export import csv_safe

STORY = (
    "The council met on Monday to discuss the new bridge over the river. "
    "Engineers said the old bridge could no longer carry heavy trucks safely. "
    "The mayor promised that construction would begin in the spring. "
    "Residents asked for a footpath and a cycle lane on the new crossing. "
)
RED = "\x1b[31mred\x1b[0m.txt"
TITLE = "\x1b]0;owned\x07\x1b[2Jtitle.txt"
SPLIT = "two\nlines.txt"
RTL = "invoice\u202etxt.exe.txt"
# Anything a terminal acts on: C0 controls but the newlines and carriage returns that end lines, DEL, C1, bidi marks.
UNSAFE = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(RED) == "\\x1b[31mred\\x1b[0m.txt"
    assert printable(SPLIT) == "two\\x0alines.txt"
    assert printable(RTL) == "invoice\\u202etxt.exe.txt"
    assert printable("Café, naïve — ünïcode [ok]") == "Café, naïve — ünïcode [ok]"
    assert csv_safe("=\x1b[2J") == "'=\\x1b[2J" and csv_safe(7) == 7


def test_control_characters_in_names_and_text_never_reach_the_terminal(sqlite_url: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in (RED, TITLE, SPLIT, RTL):
        (inputs / name).write_text(STORY + f"A line with an escape \x1b[5mblinks here {name[:4]!r} today. ")
    out = tmp_path / "results.csv"
    report = tmp_path / "report.html"
    env = {**cli_env(sqlite_url), "COLUMNS": "250"}
    run = docsum(["run", str(inputs), "--out", str(out), "--report", str(report), "--name", "\x1b[2Jnight"], env)
    assert run.returncode == 0, run.stdout + run.stderr
    for stream in (run.stdout, run.stderr):
        assert not UNSAFE.search(stream), [m.group() for m in UNSAFE.finditer(stream)]
    assert "\\x1b[31mred\\x1b[0m.txt" in run.stdout and "two\\x0alines.txt" in run.stdout
    assert "invoice\\u202etxt.exe.txt" in run.stdout
    assert run.stdout.count("succeeded") == 4  # one row each: the newline did not split a row

    listed = docsum(["batches"], env)
    assert listed.returncode == 0 and "\\x1b[2Jnight" in listed.stdout and not UNSAFE.search(listed.stdout)

    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 4
    for row in rows:
        for value in row.values():
            assert not UNSAFE.search(value) and "\n" not in value, value
    assert any(row["source_uri"].endswith("\\x1b[31mred\\x1b[0m.txt") for row in rows)

    page = report.read_text(encoding="utf-8")
    assert not UNSAFE.search(page)
    assert "\\x1b[31mred\\x1b[0m.txt" in page

    # Stored data is unchanged: the JSONL export carries the names exactly as they are on disk.
    exported = docsum(["results", "1", "--format", "jsonl"], env)
    uris = {json.loads(line)["source_uri"] for line in exported.stdout.splitlines()}
    assert {Path(uri).name for uri in uris} == {RED, TITLE, SPLIT, RTL}


def test_a_link_loop_a_fifo_and_a_dangling_link_are_skipped_rows_of_the_run(sqlite_url: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "story.txt").write_text(STORY)
    (inputs / "loop.txt").symlink_to("loop.txt")
    (inputs / "dangling.txt").symlink_to(inputs / "gone.txt")
    os.mkfifo(inputs / "pipe")
    env = {**cli_env(sqlite_url), "COLUMNS": "250"}
    run = docsum(["run", str(inputs)], env)
    assert "Traceback" not in run.stderr and run.returncode != 1, run.stderr
    assert "1 succeeded, 3 failed" in run.stderr, run.stderr
    assert "symbolic link loop (-> loop.txt)" in run.stdout
    assert f"dangling symbolic link (-> {inputs / 'gone.txt'})" in run.stdout
    assert "not a regular file: a FIFO (named pipe)" in run.stdout

    # A rerun of the same folder records the same entries again, once each, with no new document.
    again = docsum(["run", str(inputs)], env)
    assert "symbolic link loop (-> loop.txt)" in again.stdout
    exported = docsum(["results", "2", "--format", "jsonl"], env)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(Path(r["source_uri"]).name for r in rows if r["status"] == "failed") == [
        "dangling.txt",
        "loop.txt",
        "pipe",
    ]
