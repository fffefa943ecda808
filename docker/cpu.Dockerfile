# syntax=docker/dockerfile:1
# docsum CPU image: ingest workers, beat, flower and migrations (docker-compose.yml builds it as docsum-cpu).
#   docker build -f docker/cpu.Dockerfile -t docsum-cpu .
# The shipped model is copied in; nothing is downloaded when a container starts.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build docsum's wheel, so the runtime image holds neither sources nor build tools
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime
FROM ${PYTHON_IMAGE}
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/var/lib/docsum/.cache/huggingface \
    DOCSUM_MODEL=/opt/docsum/models/docsum-minilm-cnndm \
    DOCSUM_DEVICE=cpu

# Tesseract and its English model (OCR of scanned PDF pages in the ingest workers): from Debian's packages, so OCR
# never downloads anything at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
# torch first, in a layer of its own that survives source changes. The CPU build: a bare `torch` from PyPI pulls the
# CUDA stack (gigabytes) that these services never use.
RUN pip install torch==${TORCH_VERSION} --index-url ${TORCH_INDEX_URL}
# `pip install .`, from the wheel built above (torch is already satisfied, so it stays the CPU build).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels pip install /tmp/wheels/*.whl

# The model trained and shipped with the project; DOCSUM_MODEL points at it (the installed package has no repo root).
COPY models/docsum-minilm-cnndm /opt/docsum/models/docsum-minilm-cnndm

# Unprivileged user; its home is the working directory (`docsum beat` keeps var/celerybeat-schedule there).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/docsum docsum
# worker/model_cache.py writes model ids to REPO_ROOT/var, which is site-packages in an installed package: make it
# the user's, or resolving a model fails with a PermissionError.
RUN install -d -o docsum -g docsum "$(python -c 'from docsum.config import REPO_ROOT; print(REPO_ROOT)')/var"
USER docsum
WORKDIR /var/lib/docsum

CMD ["docsum", "--help"]
