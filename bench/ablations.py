"""Ablations of issue 4, each trained the same way on the same articles and measured on the same validation documents:
interval segment ids on/off, the learnable attention bias on/off, 1 vs 2 inter-sentence layers.

    python bench/ablations.py --max-docs 1200 --valid-docs 300

Prints a table (validation loss, ROUGE of the model and Lead-3) and writes runs/ablations/results.json.
Budget-limited runs: figures compare the variants at the same small budget, not fully trained models.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bertsum.data import read_examples
from bertsum.evaluate import evaluate
from bertsum.model import ExtSummarizer
from bertsum.train import TrainConfig, train
from docsum.commands.training import DEFAULT_TEST, DEFAULT_TRAIN, DEFAULT_VALID

VARIANTS: dict[str, dict] = {
    "base (interval, no bias, 2 layers)": {},
    "no interval segments": {"use_interval": False},
    "attention bias": {"attn_bias": True},
    "1 inter-sentence layer": {"ext_layers": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablations")
    parser.add_argument("--max-docs", type=int, default=1200)
    parser.add_argument("--max-windows", type=int, default=1)
    parser.add_argument("--valid-docs", type=int, default=300, help="validation articles (same for every variant)")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="per variant")
    parser.add_argument("--only", nargs="*", help="variant names to run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (leave cores to other work)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    valid_file = DEFAULT_VALID[0]  # raw CNN validation: what users' text looks like
    results = {}
    out = Path(args.out)
    for name, overrides in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        run_dir = out / (name.replace(" ", "-").replace("(", "").replace(")", "").replace(",", ""))
        tc = TrainConfig(
            out=str(run_dir), train_files=DEFAULT_TRAIN, valid_files=[valid_file], test_files=DEFAULT_TEST,
            max_docs=args.max_docs, max_windows=args.max_windows, valid_docs=args.valid_docs,
            eval_every=10_000, max_minutes=args.max_minutes, warmup=20, threads=args.threads, **overrides,
        )
        summary = train(tc)
        model = ExtSummarizer.from_pretrained(run_dir / "best", device="cpu")
        rouge = evaluate(
            read_examples(valid_file, args.valid_docs),
            lambda docs: [s.indices for s in model.summarize(docs)],
        )
        results[name] = {"valid_loss": summary["best_valid"], "docs_seen": summary["docs_seen"], **rouge}
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))

    print(f"\nAblations: {args.max_docs} training articles each, first {args.max_windows} window(s); "
          f"validation: first {args.valid_docs} of {Path(valid_file).name}")
    print(f"{'variant':<38} {'val loss':>9} {'R1':>6} {'R2':>6} {'RL':>6} {'lead3 R1':>9} {'R1-lead3':>9}")
    for name, r in results.items():
        m, lead = r["model"], r["lead3"]
        print(f"{name:<38} {r['valid_loss']:>9.4f} {m['rouge1']:>6.2f} {m['rouge2']:>6.2f} {m['rougeL']:>6.2f} "
              f"{lead['rouge1']:>9.2f} {m['rouge1'] - lead['rouge1']:>+9.2f}")


if __name__ == "__main__":
    main()
