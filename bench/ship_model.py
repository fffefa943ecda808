#!/usr/bin/env python3
"""Compare a trained model with the shipped one on the pack's validation documents, and replace the shipped model
only when the new one earns it.

  python bench/ship_model.py runs/cpu/best --pack var/pack             # compare: ROUGE of both, and Lead-3
  python bench/ship_model.py runs/cpu/best --pack var/pack --replace   # ... then replace models/docsum-minilm-cnndm

Both models summarize the pack's validation documents whole, through the inference engine, scored as `docsum eval`
scores (bertsum.evaluate.Benchmark). The rule: the new model's ROUGE-1 beats Lead-3 by at least MIN_MARGIN and beats
the shipped model's. Each replacement adds the weights (about 34 MB) to the repository's history: replace rarely.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from docsum.bertsum.pack import ENCODER_FILES  # noqa: E402

SHIPPED = ROOT / "models/docsum-minilm-cnndm"
MIN_MARGIN = 0.5  # ROUGE-1 over Lead-3 on validation
MODEL_FILES = ("model.safetensors", *ENCODER_FILES)  # weights, our config.json, the tokenizer's files


def compare(new_dir: Path, shipped_dir: Path, pack: Path, docs: int = 0) -> dict:
    """ROUGE on the pack's validation documents: {"n", "new", "shipped", "lead3"} (ROUGE-1/2/L each)."""
    from docsum.bertsum import pack as packs
    from docsum.bertsum.engine import InferenceEngine
    from docsum.bertsum.evaluate import Benchmark
    from docsum.bertsum.model import ExtSummarizer

    valid_text = packs.read_json_xz(Path(pack) / "valid_text.json.xz")[: docs or None]
    bench = Benchmark([(v["sentences"], v["reference"]) for v in valid_text], oracle=False)
    result: dict = {"n": len(bench.docs), "lead3": bench.baselines["lead3"]}
    for name, path in (("new", new_dir), ("shipped", shipped_dir)):
        model = ExtSummarizer.from_pretrained(path, device="cpu")
        picks = [s.indices for s in InferenceEngine(model).summarize(bench.sentences, k=3)]
        result[name] = bench.score(picks)["model"]
        result[f"{name}_model_id"] = model.model_id
    return result


def verdict(figures: dict) -> str | None:
    """None when the new model may ship, else why not."""
    new, shipped, lead = figures["new"]["rouge1"], figures["shipped"]["rouge1"], figures["lead3"]["rouge1"]
    if new - lead < MIN_MARGIN:
        return f"validation R1 {new:.2f} is not {MIN_MARGIN} above Lead-3's {lead:.2f}"
    if new <= shipped:
        return f"validation R1 {new:.2f} does not beat the shipped model's {shipped:.2f}"
    return None


def replace(new_dir: Path, shipped_dir: Path, figures: dict) -> None:
    why_not = verdict(figures)
    if why_not:
        raise SystemExit(f"error: not replacing {shipped_dir}: {why_not}")
    for name in MODEL_FILES:
        if (Path(new_dir) / name).exists():
            shutil.copy(Path(new_dir) / name, Path(shipped_dir) / name)
    print(
        f"replaced {shipped_dir} (validation R1 {figures['shipped']['rouge1']:.2f} -> {figures['new']['rouge1']:.2f},"
        f" Lead-3 {figures['lead3']['rouge1']:.2f}); update its README.md model card"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the trained model directory (a run's best/)")
    parser.add_argument("--pack", type=Path, required=True)
    parser.add_argument("--shipped", type=Path, default=SHIPPED)
    parser.add_argument("--docs", type=int, default=0, help="validation documents (0: all the pack holds)")
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--json", type=Path, help="write the comparison here")
    args = parser.parse_args(argv)
    figures = compare(args.model, args.shipped, args.pack, args.docs)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.replace:
        replace(args.model, args.shipped, figures)
    else:
        print(verdict(figures) or "the new model may ship (--replace)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
