# Two commands on a fresh machine: `make run` (the main job on the embedded default) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-gpu install services clean ocr

$(STAMP): pyproject.toml
	@bash scripts/ensure_ocr.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The pinned CPU build of torch first (from local disk here); a bare `torch` would pull gigabytes of CUDA.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/docsum run examples/archive --out var/example-results.jsonl

services:
	@bash scripts/ensure_services.sh

# Tesseract OCR with its English model from the system's packages (scanned PDF pages); nothing downloads at run time.
ocr:
	@bash scripts/ensure_ocr.sh

test: $(STAMP) services
	$(BIN)/python -m pytest -q -rs -m "not cuda" $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache

# On a machine with CUDA: the GPU checks (bench/gpu_check.sh does these and the GPU benchmark in one device call).
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m cuda tests/bertsum
