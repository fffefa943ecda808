"""`docsum train` and `docsum eval`: fine-tune BertSumExt and measure it with ROUGE against Lead-3 and the oracle."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

# The CNN/DailyMail files under DOCSUM_SHARED_DATA that `docsum train` reads when no --train/--valid/--test is given.
TRAIN_FILES = ("cnndm/train.jsonl.gz", "cnndm_ptb_lower/train_dailymail.jsonl.gz")
VALID_FILES = ("cnndm/validation.jsonl.gz", "cnndm_ptb_lower/validation.jsonl.gz")
TEST_FILES = ("cnndm/test.jsonl.gz", "cnndm_ptb_lower/test.jsonl.gz")


def _shared(*names: str) -> list[str]:
    from docsum.config import get_settings

    root = get_settings().shared_data
    return [str(root / name) for name in names]


def train(
    out: Annotated[Path, typer.Option(help="Run directory: checkpoint.pt (resume), best/ (the model), train_log.json.")],
    train_file: Annotated[list[str] | None, typer.Option("--train", help="Training JSONL(.gz); repeatable.")] = None,
    valid_file: Annotated[list[str] | None, typer.Option("--valid", help="Validation JSONL(.gz); repeatable.")] = None,
    test_file: Annotated[
        list[str] | None, typer.Option("--test", help="Test files whose articles must not be trained on.")
    ] = None,
    encoder: Annotated[str | None, typer.Option(help="Encoder directory (default: the bundled MiniLM).")] = None,
    name: Annotated[str | None, typer.Option(help="Model name.")] = None,
    max_docs: Annotated[int | None, typer.Option(help="Training articles to read (default: all).")] = None,
    window_tokens: Annotated[int | None, typer.Option(help="Tokens per encoder window.")] = None,
    max_windows: Annotated[int | None, typer.Option(help="Windows of an article used in training.")] = None,
    batch_tokens: Annotated[int | None, typer.Option(help="Padded tokens per micro-batch.")] = None,
    accum: Annotated[int | None, typer.Option(help="Micro-batches per update.")] = None,
    lr_encoder: Annotated[float | None, typer.Option(help="Peak learning rate of the encoder.")] = None,
    lr_head: Annotated[float | None, typer.Option(help="Peak learning rate of the head.")] = None,
    warmup: Annotated[int | None, typer.Option(help="Warmup updates.")] = None,
    max_updates: Annotated[int | None, typer.Option(help="Stop after this many updates.")] = None,
    cooldown: Annotated[int | None, typer.Option(help="Anneal the learning rate linearly to 0 over the last N.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget; stops cleanly.")] = None,
    valid_docs: Annotated[int | None, typer.Option(help="Validation articles per evaluation.")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Updates between validations and checkpoints.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of data order and initialisation.")] = None,
    interval: Annotated[bool, typer.Option(help="Interval segment ids (ablation: --no-interval).")] = True,
    attn_bias: Annotated[bool, typer.Option(help="Learnable attention bias in the inter-sentence layers.")] = False,
    ext_layers: Annotated[int | None, typer.Option(help="Inter-sentence Transformer layers.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
) -> None:
    """Fine-tune BertSumExt (encoder and head) on greedy-oracle labels; resumes from OUT/checkpoint.pt.

    Options left out take the trainer's defaults (TrainConfig); data defaults to CNN/DailyMail in DOCSUM_SHARED_DATA.
    """
    from docsum.bertsum.train import TrainConfig
    from docsum.bertsum.train import train as run
    from docsum.ingest.extract import document_sentences

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    given = {
        "name": name, "max_docs": max_docs, "window_tokens": window_tokens, "max_windows": max_windows,
        "batch_tokens": batch_tokens, "accum": accum, "lr_encoder": lr_encoder, "lr_head": lr_head, "warmup": warmup,
        "max_updates": max_updates, "cooldown": cooldown, "max_minutes": max_minutes, "valid_docs": valid_docs,
        "eval_every": eval_every, "seed": seed, "ext_layers": ext_layers, "threads": threads, "encoder": encoder,
    }
    tc = TrainConfig(
        out=str(out),
        train_files=train_file or _shared(*TRAIN_FILES),
        valid_files=valid_file or _shared(*VALID_FILES),
        test_files=test_file if test_file is not None else _shared(*TEST_FILES),
        use_interval=interval,
        attn_bias=attn_bias,
        **{key: value for key, value in given.items() if value is not None},
    )
    summary = run(tc, document_sentences)
    typer.echo(json.dumps({k: summary[k] for k in ("update", "docs_seen", "best_valid", "wall_s")}, indent=2))


def evaluate(
    data: Annotated[Path, typer.Option(help="JSONL(.gz) with `article` and `highlights`.")],
    model: Annotated[str | None, typer.Option(help="Model directory (default: DOCSUM_MODEL or the shipped model).")] = None,
    limit: Annotated[int | None, typer.Option(help="First N articles only.")] = None,
    k: Annotated[int, typer.Option(min=1, help="Sentences per summary.")] = 3,
    block_trigrams: Annotated[bool, typer.Option(help="Skip sentences sharing a trigram with the summary.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
) -> None:
    """ROUGE-1/2/L F1 x100 of the model, Lead-3 and the greedy oracle on the same documents."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from docsum.bertsum.data import read_examples, read_records
    from docsum.bertsum.evaluate import evaluate as run
    from docsum.config import get_settings
    from docsum.ingest.extract import document_sentences
    from docsum.services.models import load_model, model_path

    settings = get_settings()
    # No model given: the configured or shipped one, or a clear refusal (never ROUGE of an untrained head).
    summarizer = load_model(model_path(settings, model), settings.device)
    total = limit if limit is not None else sum(1 for _ in read_records(data))
    with Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("eval", total=total)
        result = run(
            read_examples(data, document_sentences, limit),
            lambda docs: [s.indices for s in summarizer.summarize(docs, k=k, block_trigrams=block_trigrams)],
            progress=lambda n: bar.advance(task, n),
        )
    result["model_id"] = summarizer.model_id
    result["data"] = str(data)
    table = Table(title=f"ROUGE F1 x100 on {result['n']} documents of {data.name} ({summarizer.model_id})")
    for col in ("system", "R1", "R2", "RL"):
        table.add_column(col, justify="right" if col != "system" else "left")
    for system in ("model", "lead3", "oracle"):
        r = result[system]
        table.add_row(system, f"{r['rouge1']:.2f}", f"{r['rouge2']:.2f}", f"{r['rougeL']:.2f}")
    gap = result["model"]["rouge1"] - result["lead3"]["rouge1"]
    Console().print(table)
    typer.echo(f"model - lead3: {gap:+.2f} R1 (paper, BertSumExt bert-base on CNN/DM: +2.83)")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")



def register(app: typer.Typer) -> None:
    """Add `docsum train` and `docsum eval`."""
    app.command("train")(train)
    app.command("eval")(evaluate)
