"""The `docsum` command line. Each area adds its commands with `register(app)` from `docsum/commands/<area>.py`;
heavy imports (torch, celery, pdfminer) happen inside the commands, so `docsum --help` is instant."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from docsum.commands import batches, control, db, fleet, ingest, model, training

_PLAIN_TYPES = {"str": "TEXT", "int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER"}


def _plain(label: str | None) -> str | None:
    """'<str>' -> 'TEXT', '<list[Path]>' -> 'PATH', '<a|b>' -> '[a|b]' (click's own words)."""
    if not label or not (label.startswith("<") and label.endswith(">")):
        return label
    inner = label[1:-1]
    if inner.startswith("list[") and inner.endswith("]"):
        inner = inner[5:-1]
    if "|" in inner:
        return f"[{inner}]"
    return _PLAIN_TYPES.get(inner, inner.upper())


def _readable_help() -> None:
    """typer prints a Python type beside every parameter (`PATH... <list[Path]>`, `--help <bool>`); help reads better
    with the metavar we chose for an argument, and nothing beside a flag. Any other parameter keeps typer's label."""
    from typer.core import TyperArgument, TyperOption

    argument_type = TyperArgument.display_type_rich
    option_type = TyperOption.display_type_rich

    def argument(self: TyperArgument, ctx: object) -> str | None:
        return None if self.metavar is not None else _plain(argument_type(self, ctx))  # type: ignore[arg-type]

    def option(self: TyperOption, ctx: object) -> str | None:
        return None if self.is_flag or self.count else _plain(option_type(self, ctx))  # type: ignore[arg-type]

    TyperArgument.display_type_rich = argument  # type: ignore[method-assign]
    TyperOption.display_type_rich = option  # type: ignore[method-assign]


_readable_help()


class _DocsumApp(typer.Typer):
    """The typer app, with known outages and bad settings turned into one `error:` line and their exit code
    (docsum.outages) instead of a traceback; anything else is a bug and keeps its traceback."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as err:
            from docsum.outages import describe

            known = describe(err)
            if known is None:
                raise
            code, message = known
            from rich.console import Console

            from docsum.commands.common import user_text

            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {user_text(message)}")
            raise SystemExit(code) from None


app = _DocsumApp(
    name="docsum",
    help="Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for area in (batches, control, ingest, fleet, db, model, training):
    area.register(app)


def one_paragraph_per_block(doc: str | None) -> str | None:
    """A docstring as help text: the line breaks of its source joined, so that the terminal wraps each paragraph
    (typer would keep them, and break sentences mid-line); blank lines still separate paragraphs."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _unwrap_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = one_paragraph_per_block(command.callback.__doc__)
        else:
            command.help = one_paragraph_per_block(command.help)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_help(group.typer_instance)


_unwrap_help(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"docsum {version('docsum')}")
        raise typer.Exit()


@app.callback()
def check_settings(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Batch document summarization: ingest PDFs and web pages, summarize them with BERTSUM."""
    from docsum.config import get_settings

    get_settings()  # a bad DOCSUM_* value stops any command here, as one `error:` line (exit 5), before any work


if __name__ == "__main__":
    app()
