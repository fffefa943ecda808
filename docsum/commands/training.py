"""`docsum pack`, `docsum train` and `docsum eval`: build a training pack once, train BertSumExt from it (on a CPU or
a GPU, time-boxed and resumable), and measure a model with ROUGE against Lead-3 and the oracle."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from docsum.cpus import fit_torch_threads, usable_cpus


def _shared(*names: str) -> list[str]:
    from docsum.config import get_settings

    root = get_settings().shared_data
    return [str(root / name) for name in names]


def pack(
    out: Annotated[Path, typer.Argument(metavar="PACK", help="Folder to build the pack in (replaced when done).")],
    train_file: Annotated[
        list[str] | None,
        typer.Option("--train", metavar="FILE", help="Training JSONL(.gz) with article and highlights; repeatable."),
    ] = None,
    valid_file: Annotated[
        list[str] | None, typer.Option("--valid", metavar="FILE", help="Validation JSONL(.gz); repeatable.")
    ] = None,
    test_file: Annotated[
        list[str] | None,
        typer.Option(
            "--test", metavar="FILE", help="Test JSONL(.gz): never trained on; a sample is packed; repeatable."
        ),
    ] = None,
    cnndm: Annotated[
        bool,
        typer.Option(
            "--cnndm",
            help="The CNN/DailyMail files in DOCSUM_SHARED_DATA: every training file (103k articles), both "
            "validation files, both test files and BBC.",
        ),
    ] = False,
    max_train_docs: Annotated[int | None, typer.Option(help="Training articles (default: all).")] = None,
    valid_docs: Annotated[int, typer.Option(help="Validation articles per file (the loss).")] = 1000,
    valid_r1_docs: Annotated[
        int, typer.Option(help="Of those, articles per file summarized whole for ROUGE at every evaluation.")
    ] = 500,
    test_docs: Annotated[int, typer.Option(help="Test articles sampled per file (0: all).")] = 1000,
    workers: Annotated[
        int | None, typer.Option(help="Labelling processes (default: one per CPU this process may use).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training order and the test samples.")] = 0,
) -> None:
    """Split, window and oracle-label the data once, into PACK: a training run then reads only arrays.

    Name the data: --train FILE --valid FILE (and --test FILE for articles to keep out), or --cnndm.
    """
    from docsum.commands.common import err_console, fail
    from docsum.config import get_settings
    from docsum.services.packing import CNNDM_TEST, CNNDM_TRAIN, CNNDM_VALID, LeakedTestArticles, PackSpec, build_pack

    if cnndm and (train_file or valid_file):
        raise fail("give either --cnndm or --train/--valid files, not both")
    if not cnndm and not train_file:
        raise fail(
            "no training data: give --train FILE --valid FILE, or --cnndm for CNN/DailyMail in DOCSUM_SHARED_DATA"
        )
    if not cnndm and not valid_file:
        raise fail("no validation data: give --valid FILE (the best checkpoint is chosen on it)")
    if cnndm:
        train_file, valid_file = _shared(*CNNDM_TRAIN), _shared(*CNNDM_VALID)
        test_file = _shared(*CNNDM_TEST) + list(test_file or [])
    named = [*(train_file or []), *(valid_file or []), *(test_file or [])]
    missing = [f for f in dict.fromkeys(named) if not Path(f).is_file()]
    if missing:
        raise fail(f"no such file or directory: {', '.join(missing)}")
    spec = PackSpec(
        out=out,
        train_files=list(train_file or []),
        valid_files=list(valid_file or []),
        test_files=list(test_file or []),
        data_root=get_settings().shared_data,
        max_train_docs=max_train_docs,
        valid_docs=valid_docs,
        valid_r1_docs=valid_r1_docs,
        test_docs=test_docs,
        workers=workers or usable_cpus(),
        seed=seed,
    )
    console = err_console()
    try:
        build_pack(spec, say=lambda line: console.print(line, markup=False, highlight=False))
    except (LeakedTestArticles, FileExistsError) as exc:
        raise fail(str(exc)) from None


def train(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="RUN", help="Run folder: checkpoint.pt (a run started again here resumes), best/, figures.json."
        ),
    ],
    pack_dir: Annotated[Path, typer.Option("--pack", metavar="PACK", help="The pack `docsum pack` built.")],
    minutes: Annotated[float, typer.Option(help="Training wall time of this invocation; stops cleanly.")] = 150.0,
    plan_docs: Annotated[
        int, typer.Option(help="Documents the schedule spans, over all resumes (0: one pass over the pack).")
    ] = 0,
    batch_tokens: Annotated[int, typer.Option(help="Padded tokens per micro-batch.")] = 4096,
    accum: Annotated[int, typer.Option(help="Micro-batches per update.")] = 4,
    lr_encoder: Annotated[float, typer.Option(help="Peak learning rate of the encoder.")] = 1e-4,
    lr_head: Annotated[float, typer.Option(help="Peak learning rate of the head.")] = 1e-3,
    warmup: Annotated[int, typer.Option(help="Warmup updates.")] = 300,
    cooldown: Annotated[float, typer.Option(help="Share of the plan over which the rate anneals to 0.")] = 0.25,
    dropout: Annotated[float, typer.Option(help="Dropout of encoder and head.")] = 0.0,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 where the processor runs it natively), fp32 or bf16.")
    ] = "auto",
    eval_minutes: Annotated[float, typer.Option(help="Wall time between evaluations.")] = 20.0,
    checkpoint_minutes: Annotated[float, typer.Option(help="Wall time between checkpoints.")] = 10.0,
    valid_docs: Annotated[int, typer.Option(help="Packed validation documents for the loss (0: all).")] = 1000,
    r1_docs: Annotated[int, typer.Option(help="Validation documents summarized for ROUGE (0: all packed).")] = 0,
    max_train_docs: Annotated[int, typer.Option(help="First N training documents only (0: all).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the data order.")] = 0,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (default: torch's, within the CPUs this process may use).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda where available).")] = None,
    init: Annotated[
        Path | None,
        typer.Option(help="A saved model to start from (e.g. the shipped one) instead of a fresh head."),
    ] = None,
    skip_docs: Annotated[
        int,
        typer.Option(
            min=0, help="Start the first pass after this many documents (those --init's model was trained on)."
        ),
    ] = 0,
) -> None:
    """Fine-tune BertSumExt (encoder and head) on the pack's oracle labels, on a CPU or a GPU.

    Every evaluation summarizes the pack's validation documents whole and scores the model and Lead-3 on them as
    `docsum eval` does; the best by ROUGE-1 is kept in RUN/best, a model directory (DOCSUM_MODEL=RUN/best).
    """
    from docsum.bertsum.pack import read_manifest
    from docsum.bertsum.precision import parse_precision
    from docsum.bertsum.run import RunSettings, run
    from docsum.commands.common import fail

    try:
        parse_precision(precision)
        read_manifest(pack_dir, verify=False)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    if minutes <= 0 or accum < 1 or batch_tokens < 64 or not 0 <= dropout < 1 or not 0 <= cooldown <= 1:
        raise fail(
            "--minutes must be > 0, --accum >= 1, --batch-tokens >= 64, --dropout in [0, 1), --cooldown in [0, 1]"
        )
    out.mkdir(parents=True, exist_ok=True)
    handlers = [logging.StreamHandler(), logging.FileHandler(out / "run.log")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)  # rouge-score's "Using default tokenizer." per scorer
    settings = RunSettings(
        pack=str(pack_dir),
        out=str(out),
        minutes=minutes,
        plan_docs=plan_docs,
        batch_tokens=batch_tokens,
        accum=accum,
        lr_encoder=lr_encoder,
        lr_head=lr_head,
        warmup=warmup,
        cooldown=cooldown,
        dropout=dropout,
        precision=precision,
        eval_minutes=eval_minutes,
        checkpoint_minutes=checkpoint_minutes,
        valid_docs=valid_docs,
        r1_docs=r1_docs,
        max_train_docs=max_train_docs,
        seed=seed,
        threads=threads or fit_torch_threads(),
        device=device,
        init=str(init) if init else None,
        skip_docs=skip_docs,
    )
    try:
        figures = run(settings)
    except (ValueError, FileNotFoundError) as exc:  # another pack's checkpoint in RUN, a damaged pack, a bad --init
        raise fail(str(exc)) from None
    best = figures["best"]
    typer.echo(
        json.dumps(
            {
                "status": figures["status"],
                "precision": figures["precision"],
                "docs_seen": figures["history"][-1]["docs_seen"] if figures["history"] else 0,
                "best": {k: best.get(k) for k in ("docs_seen", "r1", "lead3_r1", "valid_loss")},
                "model": str(out / "best"),
            },
            indent=2,
        )
    )


def evaluate(
    data: Annotated[Path, typer.Option(help="JSONL(.gz) with `article` and `highlights`.")],
    model: Annotated[
        str | None, typer.Option(help="Model directory (default: DOCSUM_MODEL or the shipped model).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="First N articles only.")] = None,
    k: Annotated[
        int | None, typer.Option(min=1, help="Sentences per summary (default: DOCSUM_SUMMARY_SENTENCES, 3).")
    ] = None,
    block_trigrams: Annotated[bool, typer.Option(help="Skip sentences sharing a trigram with the summary.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
) -> None:
    """ROUGE-1/2/L F1 x100 of the model, Lead-3 and the greedy oracle on the same documents."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from docsum.config import get_settings
    from docsum.services.evaluation import count_articles, evaluate_file

    settings = get_settings()
    total = limit if limit is not None else count_articles(data)
    with Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("eval", total=total)
        result = evaluate_file(settings, data, model, limit, k, block_trigrams, lambda n: bar.advance(task, n))
    model_id, dtype = result["model_id"], result["dtype"]
    table = Table(title=f"ROUGE F1 x100 on {result['n']} documents of {data.name} ({model_id}, {dtype})")
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
    """Add `docsum pack`, `docsum train` and `docsum eval`."""
    app.command("pack")(pack)
    app.command("train")(train)
    app.command("eval")(evaluate)
