"""`docsum model ...` commands: convert a PreSumm checkpoint, show a model's config and id."""

from __future__ import annotations

import json
from pathlib import Path

import typer

commands = typer.Typer(
    help="Model directories: convert PreSumm checkpoints, show config and model id.", no_args_is_help=True
)


@commands.command("convert-presumm")
def convert_presumm(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="PreSumm ext checkpoint (.pt)."),
    encoder: Path = typer.Option(
        ..., exists=True, file_okay=False, help="Local bert-base-uncased-like directory (config + tokenizer)."
    ),
    out: Path = typer.Option(..., help="Directory to write the docsum model to."),
    max_pos: int | None = typer.Option(
        None, help="Tokens per input (default: the checkpoint's opt.max_pos or its position rows)."
    ),
    name: str | None = typer.Option(None, help="Model name (default: presumm-<checkpoint stem>)."),
) -> None:
    """Convert a released PreSumm extractive checkpoint (read without arbitrary unpickling) into a model directory."""
    from docsum.bertsum.presumm import convert

    try:
        model = convert(checkpoint, encoder, max_pos=max_pos, name=name)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    model.save_pretrained(out)
    typer.echo(f"wrote {out} ({model.model_id}, max_pos {model.config.max_pos}, {model.config.ext_layers} ext layers)")


@commands.command()
def info(
    path: Path | None = typer.Argument(None, help="Model directory (default: DOCSUM_MODEL, else the shipped model)."),
) -> None:
    """Print the model's config (encoder config summarised) and its model_id."""
    import warnings

    from docsum.bertsum.model import ExtSummarizer
    from docsum.config import get_settings
    from docsum.outages import EXIT_INPUT, EXIT_SETTINGS

    given = path is not None
    if path is None:
        path = get_settings().require_model_path()  # none configured nor shipped: ModelNotFound, one line, exit 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = ExtSummarizer.from_pretrained(path, device="cpu")
        except (ValueError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            # A directory named here is bad input; the configured one is a bad setting.
            raise typer.Exit(EXIT_INPUT if given else EXIT_SETTINGS) from None
    config = model.config.to_dict()
    enc = config.pop("encoder_config")
    config["encoder_config"] = {
        k: enc.get(k)
        for k in (
            "model_type",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "max_position_embeddings",
            "vocab_size",
        )
    }
    params = sum(p.numel() for p in model.parameters())
    typer.echo(json.dumps({"model_id": model.model_id, "parameters": params, "config": config}, indent=2))
    for w in caught:
        if "untrained" in str(w.message):
            typer.echo(f"warning: {w.message}", err=True)


def register(app: typer.Typer) -> None:
    """Add the `docsum model ...` group."""
    app.add_typer(commands, name="model")
