"""The one settings object: every knob typed and named once, read from DOCSUM_* environment variables.

Library code takes a `Settings` argument; only entry points (CLI, workers, Client) call `get_settings()`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run from a source checkout (or an editable install of one), rather than installed into site-packages.
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "docsum" / "config.py").is_file()
# The model trained and shipped with the project: in the source tree. An installed docsum has none (DOCSUM_MODEL).
SHIPPED_MODEL_DIR = REPO_ROOT / "models" / "docsum-minilm-cnndm"


def _data_dir() -> Path:
    """Where the embedded database and the model-id cache live: ./var of the checkout; for an installed docsum the
    user's data directory (XDG_DATA_HOME, else ~/.local/share), never site-packages."""
    if IN_CHECKOUT:
        return REPO_ROOT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "docsum"


DATA_DIR = _data_dir()


class ModelNotFound(FileNotFoundError):
    """No model is configured and none is shipped with this installation."""


class InvalidSetting(ValueError):
    """A setting whose value parses but cannot be used (a cron expression celery rejects): the CLI prints it as one
    `error:` line, like a value that does not parse."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCSUM_", env_file=None, extra="ignore")

    # --- storage and queue -------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{DATA_DIR / 'docsum.db'}",
        description="SQLAlchemy URL. Embedded default: a SQLite file under ./var/ of the checkout, or the user's data "
        "directory (~/.local/share/docsum) for an installed docsum.",
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker (Redis). Unset: run with an in-process worker on an in-memory transport."
    )

    # --- model and inference -----------------------------------------------------------------
    model: str | None = Field(default=None, description="Model directory. Unset: the shipped default model.")
    device: str | None = Field(default=None, description="torch device ('cuda', 'cuda:1', 'cpu'). Unset: CUDA if available.")
    max_batch_tokens: int = Field(default=8192, description="Padded-token budget of one encoder batch (count x longest).")
    summary_sentences: int = Field(default=3, description="Default k: sentences per summary.")

    # --- ingest limits -----------------------------------------------------------------------
    max_file_bytes: int = Field(default=200 * 1024 * 1024, description="Larger inputs fail as 'oversized'.")
    max_archive_bytes: int = Field(default=2 * 1024**3, description="Limit on the total expanded size of one archive.")
    max_archive_ratio: float = Field(default=200.0, description="Limit on expanded/compressed size of an archive member.")
    max_archive_members: int = Field(default=100_000, description="Limit on the number of members in one archive.")
    max_pdf_pages: int = Field(default=2000, description="PDF pages beyond this are not extracted.")
    max_extract_seconds: float = Field(
        default=120.0,
        description="Wall-clock limit of one document's extraction; beyond it the extraction process is killed and the "
        "document fails (pathological files).",
    )
    max_extract_memory_mib: int = Field(
        default=2048,
        description="Memory ceiling (address space, MiB) of the extraction process; beyond it the document fails. "
        "0: none.",
    )
    max_html_chars: int = Field(
        default=2_000_000,
        description="HTML pages are cut to this many characters before main-content extraction (its cost grows "
        "quadratically with page size).",
    )

    # --- workers -----------------------------------------------------------------------------
    chunk_size: int = Field(default=64, description="Documents per summarize task.")
    ingest_chunk_size: int = Field(default=16, description="Files per ingest task.")
    visibility_timeout: int = Field(
        default=4 * 3600, description="Seconds before Redis redelivers an unacknowledged task. Far above a chunk's duration."
    )
    max_deliveries: int = Field(default=3, description="A task delivered more often than this fails its jobs (poison cap).")
    nightly_cron: str = Field(default="0 2 * * *", description="Cron expression of the nightly bulk run (beat).")
    nightly_roots: list[str] = Field(default_factory=list, description="Archive roots of the nightly run (JSON list).")

    # --- flower ------------------------------------------------------------------------------
    flower_address: str = Field(default="127.0.0.1", description="Flower listen address.")
    flower_port: int = Field(default=5555, description="Flower port.")
    flower_basic_auth: str | None = Field(
        default=None, description="user:password[,user2:password2]. Required when Flower listens beyond loopback."
    )

    @property
    def model_path(self) -> Path | None:
        """The configured model directory, or the shipped one if it exists, or None (bundled encoder, untrained head)."""
        if self.model:
            return Path(self.model)
        return SHIPPED_MODEL_DIR if (SHIPPED_MODEL_DIR / "config.json").exists() else None

    def require_model_path(self) -> Path:
        """The model to summarize with; refuses rather than summarize with an untrained head (meaningless summaries
        marked succeeded)."""
        path = self.model_path
        if path is None:
            raise ModelNotFound(
                "no model: DOCSUM_MODEL is not set and this installation has no shipped model "
                f"({SHIPPED_MODEL_DIR} does not exist); set DOCSUM_MODEL to a model directory "
                "(models/docsum-minilm-cnndm of the source tree, or one `docsum train` wrote)"
            )
        return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
