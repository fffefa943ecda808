# syntax=docker/dockerfile:1
# docsum CUDA image: the summarize worker, one process per GPU (docker-compose.yml builds it as docsum-cuda).
#   docker build -f docker/cuda.Dockerfile -t docsum-cuda .
# torch 2.13.0 publishes CUDA builds cu126, cu129, cu130 and cu132. CUDA 13.0 needs an NVIDIA driver >= 580 on the
# host; for an older driver build with, e.g.,
#   --build-arg CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
# The shipped model is copied in; nothing is downloaded when a container starts.

ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04

# --- build docsum's wheel (pure Python, so any Python 3.11+ builds it)
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime
FROM ${CUDA_IMAGE}
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

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
    DOCSUM_DEVICE=cuda

RUN python3 -m venv /opt/venv
# torch first, in a layer of its own: the CUDA build matching the base image's CUDA major version.
RUN pip install torch==${TORCH_VERSION} --index-url ${TORCH_INDEX_URL}
# `pip install .`, from the wheel built above (torch is already satisfied, so it stays the CUDA build).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels pip install /tmp/wheels/*.whl

COPY models/docsum-minilm-cnndm /opt/docsum/models/docsum-minilm-cnndm

# Unprivileged user; its home is the working directory (`docsum beat` keeps var/celerybeat-schedule there).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/docsum docsum
# worker/model_cache.py writes model ids to REPO_ROOT/var, which is site-packages in an installed package: make it
# the user's, or resolving a model fails with a PermissionError.
RUN install -d -o docsum -g docsum "$(python -c 'from docsum.config import REPO_ROOT; print(REPO_ROOT)')/var"
USER docsum
WORKDIR /var/lib/docsum

CMD ["docsum", "--help"]
