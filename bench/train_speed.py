#!/usr/bin/env python3
"""Training speed: documents per second of the training step (`docsum train`'s loop), in fp32 and bf16, with dropout
on (0.1, BERT's and PreSumm's) and off, measured one after the other in one run on the same batches.

    python bench/train_speed.py                          # var/pack (docsum pack ... --cnndm), 40 updates each
    python bench/train_speed.py --json var/speed.json    # also {"docs_per_s": ...} of the default settings

Each setting trains a fresh model from the pack (same seed) for a warm-up of `--warmup-updates`, then is timed over
`--updates` updates of `--accum` micro-batches of `--batch-tokens` padded tokens: forward, backward, clipping, Adam.
The batches are the run's own (the first of its seeded data order). Nothing is evaluated or saved. On a CPU without
native bf16 (no AMX or AVX512-BF16) bf16 is emulated, many times slower, and the default (`auto`) never uses it: its
rows are left out and the bench says so (`--precisions fp32,bf16` measures them anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from docsum.bertsum import pack as packs  # noqa: E402
from docsum.bertsum.loop import LoopSettings, fit, make_optimizer  # noqa: E402
from docsum.bertsum.precision import compute_dtype, cpu_has_native_bf16, dtype_name  # noqa: E402
from docsum.bertsum.run import RunSettings, installed_word_embeddings, planned_batches  # noqa: E402


def measure(pack: Path, manifest: dict, train: list, precision: str, dropout: float, args: argparse.Namespace) -> dict:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = compute_dtype(device, precision)
    model = packs.build_model(pack, manifest, dropout=dropout, full_embeddings=installed_word_embeddings()).to(device)
    optim = make_optimizer(model, 1e-4, 1e-3)
    settings = RunSettings(pack=str(pack), out="-", batch_tokens=args.batch_tokens, accum=args.accum)
    timer: dict = {}

    def mark(state: dict) -> None:
        if state["update"] == args.warmup_updates:
            if device.type == "cuda":
                torch.cuda.synchronize()
            timer["start"], timer["docs"] = time.perf_counter(), state["docs_seen"]

    state = {"update": 0, "docs_seen": 0, "wall_s": 0.0}
    loop = LoopSettings(
        accum=args.accum,
        max_updates=args.warmup_updates + args.updates,
        max_seconds=1e9,
        eval_every=10**9,
        log_every=10**9,
        amp=amp,
    )
    fit(
        model,
        planned_batches(train, settings, (0, 0, 0), lambda: False),
        optim,
        state,
        loop,
        lambda update, elapsed: 1.0,
        lambda: None,
        device,
        mark,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - timer["start"]
    docs = state["docs_seen"] - timer["docs"]
    return {
        "precision": dtype_name(amp),
        "dropout": dropout,
        "docs": docs,
        "seconds": round(seconds, 2),
        "docs_per_s": round(docs / seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", type=Path, default=ROOT / "var/pack")
    parser.add_argument("--updates", type=int, default=40, help="timed updates per setting")
    parser.add_argument("--warmup-updates", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=RunSettings.batch_tokens)
    parser.add_argument("--accum", type=int, default=RunSettings.accum)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument(
        "--precisions",
        default=None,
        help="comma-separated, of fp32 and bf16 (default: both where bf16 is native or on CUDA, else fp32 alone)",
    )
    parser.add_argument("--json", type=Path, help="write the figures; docs_per_s is the default settings'")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    native = device.type == "cuda" or cpu_has_native_bf16()
    precisions = (args.precisions or ("fp32,bf16" if native else "fp32")).split(",")
    if not native and "bf16" not in precisions:
        print("bf16 left out: this CPU has no native bf16 (AMX or AVX512-BF16), so training runs in fp32", flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        manifest = packs.read_manifest(args.pack, verify=False)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train = packs.load_samples(args.pack / "train.npz.xz", packs.load_tokenizer(args.pack), manifest["use_interval"])
    default = RunSettings(pack=str(args.pack), out="-")
    rows = []
    for precision in precisions:
        for dropout in (0.1, 0.0):
            rows.append(measure(args.pack, manifest, train, precision, dropout, args))
            r = rows[-1]
            print(
                f"{r['precision']:>5}  dropout {r['dropout']:<4} {r['docs_per_s']:>7.2f} docs/s "
                f"({r['docs']} documents in {r['seconds']:.1f} s)",
                flush=True,
            )
    chosen = dtype_name(compute_dtype(device, default.precision))
    ours = next(r for r in rows if r["precision"] == chosen and r["dropout"] == default.dropout)
    where = "a CUDA GPU" if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads ({os.cpu_count()} cores)"
    print(f"default settings ({chosen}, dropout {default.dropout}): {ours['docs_per_s']:.2f} docs/s on {where}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"docs_per_s": ours["docs_per_s"], "settings": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
