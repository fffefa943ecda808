# Two commands on a fresh machine: `make run` (the main job on the embedded default) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# torch: the CPU build by default. On PyPI, `torch==2.13.0` for Linux is the CUDA build (gigabytes of nvidia-*
# packages); the CPU build carries the +cpu local version and lives on PyTorch's CPU index (and on local disk here).
# A CUDA host overrides both: `make install TORCH_SPEC=torch==2.13.0 TORCH_INDEX=` (PyPI's default CUDA build), or
# TORCH_INDEX=https://download.pytorch.org/whl/cuXYZ for another CUDA version.
TORCH_SPEC  ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint format test-gpu install services clean ocr

$(STAMP): pyproject.toml
	@bash scripts/ensure_ocr.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The pinned torch build first; a bare `torch` would pull CUDA. A +cpu wheel in pip's configured find-links (local
	# disk) is taken first, its dependencies from the usual indexes; else TORCH_SPEC from TORCH_INDEX. (Only for a +cpu
	# spec: `torch==2.13.0` would also match a local +cpu wheel, and a CUDA host must not get that.)
	$(BIN)/python -c "import torch" 2>/dev/null || \
	  { $(if $(findstring +cpu,$(TORCH_SPEC)),$(BIN)/pip install -q --no-index --no-deps "$(TORCH_SPEC)" 2>/dev/null \
	    && $(BIN)/pip install -q "$(TORCH_SPEC)",false); } || \
	  $(BIN)/pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The example archive holds a corrupt PDF on purpose: `docsum run` ends with exit code 6 (finished, some documents
# failed), which is this target's expected outcome; any other non-zero code fails it.
run: $(STAMP)
	@$(BIN)/docsum run examples/archive --out var/example-results.jsonl; code=$$?; \
	  if [ $$code -eq 6 ]; then echo "exit code 6: some documents failed (the corrupt example PDF does, by design)" >&2; \
	  elif [ $$code -ne 0 ]; then exit $$code; fi

services:
	@bash scripts/ensure_services.sh

# Tesseract OCR with its English model from the system's packages (scanned PDF pages); nothing downloads at run time.
ocr:
	@bash scripts/ensure_ocr.sh

test: $(STAMP) services
	$(BIN)/python -m pytest -q -rs -m "not cuda" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var .pytest_cache

# On a machine with CUDA: the GPU checks (bench/gpu_check.sh does these and the GPU benchmark in one device call).
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m cuda tests/bertsum
