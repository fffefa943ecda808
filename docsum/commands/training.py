"""`docsum train` and `docsum eval`: fine-tune BertSumExt and measure it with ROUGE against Lead-3 and the oracle."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from docsum.bertsum.data import Splitter
    from docsum.bertsum.train import TrainConfig

# The CNN/DailyMail files under DOCSUM_SHARED_DATA that `docsum train --cnndm` reads.
TRAIN_FILES = ("cnndm/train.jsonl.gz", "cnndm_ptb_lower/train_dailymail.jsonl.gz")
VALID_FILES = ("cnndm/validation.jsonl.gz", "cnndm_ptb_lower/validation.jsonl.gz")
TEST_FILES = ("cnndm/test.jsonl.gz", "cnndm_ptb_lower/test.jsonl.gz")


def _shared(*names: str) -> list[str]:
    from docsum.config import get_settings

    root = get_settings().shared_data
    return [str(root / name) for name in names]


def train(
    out: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Run directory: checkpoint.pt (resume), best/ (the model), train_log.json."),
    ],
    train_file: Annotated[
        list[str] | None,
        typer.Option("--train", metavar="FILE", help="Training JSONL(.gz) with article and highlights; repeatable."),
    ] = None,
    valid_file: Annotated[
        list[str] | None, typer.Option("--valid", metavar="FILE", help="Validation JSONL(.gz); repeatable.")
    ] = None,
    test_file: Annotated[
        list[str] | None,
        typer.Option("--test", metavar="FILE", help="Test files whose articles must not be trained on; repeatable."),
    ] = None,
    cnndm: Annotated[
        bool,
        typer.Option(
            "--cnndm",
            help="Train on the CNN/DailyMail files in DOCSUM_SHARED_DATA (train, validation and test of cnndm/ and "
            "cnndm_ptb_lower/) instead of --train/--valid/--test.",
        ),
    ] = False,
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
    cooldown: Annotated[
        int | None, typer.Option(help="Anneal the learning rate linearly to 0 over the last N.")
    ] = None,
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

    Name the data: --train FILE --valid FILE (and --test FILE for articles to keep out), or --cnndm for the
    CNN/DailyMail files in DOCSUM_SHARED_DATA. The run stops at --max-updates or --max-minutes (default 60), whichever
    comes first; other options left out take the trainer's defaults.
    """
    from rich.logging import RichHandler

    from docsum.bertsum.train import TrainConfig
    from docsum.bertsum.train import train as run
    from docsum.commands.common import err_console, fail
    from docsum.ingest.extract import offered_sentences

    if cnndm and (train_file or valid_file):
        raise fail("give either --cnndm or --train/--valid files, not both")
    if not cnndm and not train_file:
        raise fail(
            "no training data: give --train FILE --valid FILE, or --cnndm for CNN/DailyMail in DOCSUM_SHARED_DATA"
        )
    if not cnndm and not valid_file:
        raise fail("no validation data: give --valid FILE (the best checkpoint is chosen on it)")
    if cnndm:
        named = _shared(*TRAIN_FILES, *VALID_FILES, *TEST_FILES)
    else:
        named = [*(train_file or []), *(valid_file or []), *(test_file or [])]
    missing = [f for f in dict.fromkeys(named) if not Path(f).is_file()]
    if missing:
        raise fail(f"no such file or directory: {', '.join(missing)}")
    console = err_console()
    handler = RichHandler(console=console, show_path=False)  # log lines print above the progress bar
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    given = {
        "name": name,
        "max_docs": max_docs,
        "window_tokens": window_tokens,
        "max_windows": max_windows,
        "batch_tokens": batch_tokens,
        "accum": accum,
        "lr_encoder": lr_encoder,
        "lr_head": lr_head,
        "warmup": warmup,
        "max_updates": max_updates,
        "cooldown": cooldown,
        "max_minutes": max_minutes,
        "valid_docs": valid_docs,
        "eval_every": eval_every,
        "seed": seed,
        "ext_layers": ext_layers,
        "threads": threads,
        "encoder": encoder,
    }
    tc = TrainConfig(
        out=str(out),
        train_files=_shared(*TRAIN_FILES) if cnndm else train_file,
        valid_files=_shared(*VALID_FILES) if cnndm else valid_file,
        test_files=_shared(*TEST_FILES) if cnndm else (test_file or []),
        use_interval=interval,
        attn_bias=attn_bias,
        **{key: value for key, value in given.items() if value is not None},
    )
    summary = _run_with_progress(run, tc, offered_sentences, console)  # the summarize path's candidate rule
    typer.echo(json.dumps({k: summary[k] for k in ("update", "docs_seen", "best_valid", "wall_s")}, indent=2))


def _run_with_progress(run: Callable[..., dict], tc: TrainConfig, split: Splitter, console: Console) -> dict:
    """The training run under a progress bar: updates of max_updates and the time budget, whichever ends first."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "updates · {task.fields[docs]} articles · best valid {task.fields[best]} · budget {task.fields[budget]}"
        ),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("train", total=tc.max_updates, docs=0, best="-", budget=f"{tc.max_minutes:g} min")

        def show(state: dict) -> None:
            best = state["best_valid"]
            left = max(0.0, tc.max_minutes - state["wall_s"] / 60)
            bar.update(
                task,
                completed=state["update"],
                docs=state["docs_seen"],
                best=f"{best:.4f}" if best != float("inf") else "-",
                budget=f"{left:.0f} of {tc.max_minutes:g} min left",
            )

        return run(tc, split, progress=show)


def evaluate(
    data: Annotated[Path, typer.Option(help="JSONL(.gz) with `article` and `highlights`.")],
    model: Annotated[
        str | None, typer.Option(help="Model directory (default: DOCSUM_MODEL or the shipped model).")
    ] = None,
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
    from docsum.ingest.extract import offered_sentences
    from docsum.services.models import load_model, model_path

    settings = get_settings()
    # No model given: the configured or shipped one, or a clear refusal (never ROUGE of an untrained head).
    summarizer = load_model(model_path(settings, model), settings.device)
    total = limit if limit is not None else sum(1 for _ in read_records(data))
    with Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("eval", total=total)
        result = run(
            read_examples(data, offered_sentences, limit),  # the summarize path's candidate rule
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
