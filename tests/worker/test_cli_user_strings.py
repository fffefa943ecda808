"""User-controlled strings in CLI output and exports: Rich markup in file names and titles is printed as text, CSV
cells that a spreadsheet would run as formulas are neutralised, and a database password is never printed. Also the
hard extraction limit on the embedded path: `docsum run` (its worker is a thread of the CLI process) fails a stalling
page with its reason and finishes the batch."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from servers import free_port
from test_worker_embedded import cli_env, docsum

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_input_cases import stalling_html, write, zip_of

from docsum.outages import EXIT_SOME_FAILED
from docsum.services.export import csv_safe

BODY = "".join(
    f"<p>Paragraph {i} of the story tells what happened at the market on day {i}, in plain words.</p>" for i in range(6)
)


def page(title: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><article>{BODY}</article></body></html>".encode()


def test_markup_names_formula_titles_and_a_stall_through_docsum_run(sqlite_url: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write(inputs / "a.zip", zip_of({"[/red]x.html": page("Plain title")}))
    write(inputs / "b.html", page("[/red] closing tag [bold]"))
    write(inputs / "c.html", page('=HYPERLINK("http://evil.example/","click")'))
    write(inputs / "d-stall.html", stalling_html())
    out = tmp_path / "results.csv"
    env = {**cli_env(sqlite_url), "DOCSUM_MAX_EXTRACT_SECONDS": "2", "DOCSUM_MAX_HTML_CHARS": str(10**9)}
    run = docsum(["run", str(inputs), "--out", str(out)], env)
    assert run.returncode == EXIT_SOME_FAILED, run.stdout + run.stderr  # the stalled page failed
    assert "[/red] closing tag [bold]" in run.stdout  # the title, printed as written
    assert "extraction exceeded 2 s" in run.stdout
    assert "finished" in run.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 4
    by_title = {row["title"]: row for row in rows}
    assert '\'=HYPERLINK("http://evil.example/","click")' in by_title
    assert by_title["[/red] closing tag [bold]"]["status"] == "succeeded"
    assert any(row["source_uri"].endswith("![/red]x.html") for row in rows)
    stall = next(row for row in rows if row["source_uri"].endswith("d-stall.html"))
    assert (stall["status"], stall["error"]) == ("failed", "extraction exceeded 2 s")

    # JSON lines keep the values exactly; only the CSV cells are neutralised.
    exported = docsum(["results", "1", "--format", "jsonl"], env)
    titles = {json.loads(line)["title"] for line in exported.stdout.splitlines()}
    assert '=HYPERLINK("http://evil.example/","click")' in titles


def test_csv_safe_follows_owasp() -> None:
    for cell in ("=1+1", "+1", "-2", "@SUM(A1)"):
        assert csv_safe(cell) == "'" + cell
    for cell, shown in (("\tx", "'\\x09x"), ("\rx", "'\\x0dx")):  # neutralised, the control shown escaped
        assert csv_safe(cell) == shown
    assert csv_safe("plain") == "plain" and csv_safe(3) == 3 and csv_safe(None) is None
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_safe("=cmd")])
    assert buffer.getvalue().startswith("'=cmd")


def test_database_password_is_never_printed(tmp_path: Path) -> None:
    story = write(tmp_path / "story.txt", b"The mayor opened the new library. It has ten thousand books.")
    url = f"postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    env = cli_env(url)
    ingest = docsum(["ingest", str(story)], env, timeout=60)
    assert ingest.returncode == 1
    assert "cannot open the database" in ingest.stdout and "***" in ingest.stdout
    assert "s3cret-pw" not in ingest.stdout + ingest.stderr


def test_a_password_on_the_command_line_is_refused(tmp_path: Path) -> None:
    story = write(tmp_path / "story.txt", b"The mayor opened the new library. It has ten thousand books.")
    url = f"postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    env = cli_env(f"sqlite:///{tmp_path / 'd.db'}")
    refused = docsum(["ingest", str(story), "--database-url", url], env, timeout=60)
    assert refused.returncode == 2 and "refusing a password in --database-url" in refused.stdout
    assert "s3cret-pw" not in refused.stdout + refused.stderr
