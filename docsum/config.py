"""The one settings object: every knob typed and named once, read from DOCSUM_* environment variables.

Library code takes a `Settings` argument; only entry points (CLI, workers, Client) call `get_settings()`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The model trained and shipped with the project (issue 4); until it exists the bundled encoder with an untrained head is used.
SHIPPED_MODEL_DIR = REPO_ROOT / "models" / "docsum-minilm-cnndm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCSUM_", env_file=None, extra="ignore")

    # --- storage and queue -------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{REPO_ROOT / 'var' / 'docsum.db'}",
        description="SQLAlchemy URL. Embedded default: a SQLite file under ./var/.",
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
        default=120.0, description="Time limit of one document's extraction; beyond it the document fails (pathological files)."
    )
    ocr: bool = Field(default=True, description="OCR PDF pages that have no text layer (needs Tesseract installed).")
    ocr_languages: str = Field(default="eng", description="Tesseract languages for OCR, e.g. 'eng' or 'eng+deu'.")
    ocr_dpi: int = Field(default=300, description="Resolution pages are rendered at for OCR.")
    ocr_page_seconds: float = Field(
        default=60.0, description="Time limit of OCR on one page; beyond it the page is skipped."
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
