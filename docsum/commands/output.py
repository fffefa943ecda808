"""Where results go and in which format: the one rule behind `docsum run --out` and `docsum results --out`."""

from __future__ import annotations

from pathlib import Path

from docsum.commands.common import fail

STDOUT = "-"
FORMAT_HELP = "jsonl or csv (default: from the --out file name; JSON lines on stdout)."


def export_target(out: Path | None, fmt: str | None) -> tuple[Path | None, str]:
    """(file, format) of an export; file None means stdout (`--out -`, or no --out where a command prints results).

    The format is `--format` when given, else the file's suffix (.jsonl/.ndjson or .csv), else JSON lines on stdout.
    A file name whose suffix says one format while `--format` says another is refused, as is a file name with an
    unknown suffix and no `--format`: either would leave a file whose name lies about its content."""
    from docsum.services.export import export_format

    if out is None or str(out) == STDOUT:
        return None, fmt or "jsonl"
    try:
        named = export_format(out)
    except ValueError:
        named = None
    if fmt is None:
        if named is None:
            raise fail(f"cannot export to {out}: use a .jsonl or .csv file name, or --format")
        return out, named
    if named is not None and named != fmt:
        raise fail(f"--format {fmt} does not match the file name {out} (a {named} name)")
    return out, fmt
