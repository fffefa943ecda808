#!/usr/bin/env bash
# GPU training in one command per step (README, "Training on a GPU"):
#   bash bench/gpu_train.sh prepare        # here: build var/gpu-pack from ../shared/data
#   bash bench/gpu_train.sh stage          # here: set models/docsum-minilm-cnndm aside so that everything fits
#   bash bench/gpu_train.sh run            # the GPU host (carry var/gpu-pack): writes to $OUT
#   bash bench/gpu_train.sh ingest DIR     # here: restore models/, verify, build and check the model directory
# Uses .venv's python where it exists (here), else python3 (the GPU host, which has torch and transformers only).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
exec "$PY" bench/gpu_train.py "$@"
