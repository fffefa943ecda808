"""`docsum train` and `docsum eval`: fine-tune BertSumExt and measure it with ROUGE against Lead-3 and the oracle."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFAULT_TRAIN = [str(SHARED_DATA / "cnndm/train.jsonl.gz"), str(SHARED_DATA / "cnndm_ptb_lower/train_dailymail.jsonl.gz")]
DEFAULT_VALID = [str(SHARED_DATA / "cnndm/validation.jsonl.gz"), str(SHARED_DATA / "cnndm_ptb_lower/validation.jsonl.gz")]
DEFAULT_TEST = [str(SHARED_DATA / "cnndm/test.jsonl.gz"), str(SHARED_DATA / "cnndm_ptb_lower/test.jsonl.gz")]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("eval")(evaluate)


def train(
    out: Annotated[Path, typer.Option(help="Run directory: checkpoint.pt (resume), best/ (the model), train_log.json.")] = Path("runs/train"),
    train_file: Annotated[Optional[list[str]], typer.Option("--train", help="Training JSONL(.gz); repeatable.")] = None,
    valid_file: Annotated[Optional[list[str]], typer.Option("--valid", help="Validation JSONL(.gz); repeatable.")] = None,
    test_file: Annotated[Optional[list[str]], typer.Option("--test", help="Test files that must not leak into training.")] = None,
    encoder: Annotated[Optional[str], typer.Option(help="Encoder directory (default: the bundled MiniLM).")] = None,
    name: str = "docsum-minilm-cnndm",
    max_docs: Annotated[Optional[int], typer.Option(help="Training articles to read.")] = None,
    window_tokens: int = 256,
    max_windows: int = 2,
    batch_tokens: int = 4096,
    accum: int = 2,
    lr_encoder: float = 1e-4,
    lr_head: float = 1e-3,
    warmup: int = 100,
    max_updates: int = 100_000,
    cooldown: Annotated[int, typer.Option(help="Anneal the learning rate linearly to 0 over the last N updates.")] = 0,
    max_minutes: float = 60.0,
    valid_docs: int = 300,
    eval_every: int = 100,
    seed: int = 0,
    interval: Annotated[bool, typer.Option(help="Interval segment ids (ablation: --no-interval).")] = True,
    attn_bias: Annotated[bool, typer.Option(help="Learnable attention bias in the inter-sentence layers.")] = False,
    ext_layers: int = 2,
    threads: Optional[int] = None,
) -> None:
    """Fine-tune BertSumExt (encoder and head) on greedy-oracle labels; resumes from OUT/checkpoint.pt."""
    from docsum.bertsum.train import TrainConfig
    from docsum.bertsum.train import train as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    tc = TrainConfig(
        out=str(out), train_files=train_file or DEFAULT_TRAIN, valid_files=valid_file or DEFAULT_VALID,
        test_files=test_file if test_file is not None else DEFAULT_TEST, encoder=encoder, name=name, max_docs=max_docs,
        window_tokens=window_tokens, max_windows=max_windows, batch_tokens=batch_tokens, accum=accum,
        lr_encoder=lr_encoder, lr_head=lr_head, warmup=warmup, max_updates=max_updates, cooldown=cooldown, max_minutes=max_minutes,
        valid_docs=valid_docs, eval_every=eval_every, seed=seed, use_interval=interval, attn_bias=attn_bias,
        ext_layers=ext_layers, threads=threads,
    )
    from docsum.ingest.candidates import candidate_indices

    summary = run(tc, sentence_filter=candidate_indices)  # the summarize path's candidate rule
    typer.echo(json.dumps({k: summary[k] for k in ("update", "docs_seen", "best_valid", "wall_s")}, indent=2))


def evaluate(
    data: Annotated[Path, typer.Option(help="JSONL(.gz) with `article` and `highlights`.")],
    model: Annotated[Optional[str], typer.Option(help="Model directory (default: DOCSUM_MODEL or the shipped model).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="First N articles only.")] = None,
    k: int = 3,
    block_trigrams: bool = True,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the figures as JSON here.")] = None,
) -> None:
    """ROUGE-1/2/L F1 x100 of the model, Lead-3 and the greedy oracle on the same documents."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from docsum.bertsum import ExtSummarizer
    from docsum.bertsum.data import read_examples, read_records
    from docsum.bertsum.evaluate import evaluate as run
    from docsum.ingest.candidates import candidate_indices

    summarizer = ExtSummarizer.from_pretrained(model)
    total = limit if limit is not None else sum(1 for _ in read_records(data))
    with Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("eval", total=total)
        result = run(
            read_examples(data, limit, sentence_filter=candidate_indices),  # the summarize path's candidate rule
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

