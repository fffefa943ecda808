"""`docsum --help` reads as prose: each help text is one paragraph per block, wrapped by the terminal, never broken
where the docstring's source line happened to end."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from docsum.cli import app, one_paragraph_per_block


def _commands(typer_app: typer.Typer, prefix: str = "") -> dict[str, str | None]:
    found = {f"{prefix}{c.name or c.callback.__name__}": c.help for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        found.update(_commands(group.typer_instance, f"{prefix}{group.name} "))
    return found


def test_docstrings_become_one_paragraph_per_block() -> None:
    doc = """First sentence runs on
    to the next line.

    A second paragraph,
        indented in the source."""
    assert (
        one_paragraph_per_block(doc)
        == "First sentence runs on to the next line.\n\nA second paragraph, indented in the source."
    )


def test_no_command_help_keeps_a_source_line_break() -> None:
    helps = _commands(app)
    assert {"run", "nightly", "retry", "ingest", "db upgrade"} <= set(helps)
    for name, text in helps.items():
        assert text, f"{name} has no help"
        assert "\n" not in text.replace("\n\n", ""), f"{name}: {text!r}"


def test_a_wide_terminal_shows_each_summary_on_one_line() -> None:
    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400", "TERM": "dumb"}).output
    nightly = next(line for line in out.splitlines() if " nightly " in line)
    assert "unchanged ones skipped unread, stored documents lacking a summary" in nightly
    retry = next(line for line in out.splitlines() if " retry " in line)
    assert "fail again at once, with their reason" in retry
