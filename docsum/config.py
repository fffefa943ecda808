"""The one settings object: every knob typed, named and defaulted once, read from DOCSUM_* environment variables.

This module is the leaf of the package: it imports nothing else of docsum but the public exceptions
(`docsum.errors`, which import nothing). Entry points (the CLI, the worker app,
`Client()`) call `get_settings()`; everything below them takes a `Settings` or plain arguments.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pydantic_settings
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from docsum.errors import InvalidSetting, ModelNotFound  # raised here; importable from docsum.config as before

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run from a source checkout (or an editable install of one), rather than installed into site-packages.
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "docsum" / "config.py").is_file()
# The model trained and shipped with the project: in the source tree. An installed docsum has none (DOCSUM_MODEL).
SHIPPED_MODEL_DIR = REPO_ROOT / "models" / "docsum-minilm-cnndm"
# The reference datasets sit beside a checkout (../shared/data); DOCSUM_SHARED_DATA points elsewhere.
DEFAULT_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# One cron field: numbers, names, ranges, steps and lists (what celery's crontab accepts).
_CRON_FIELD = re.compile(r"^[\w*/,\-]+$")


def _data_dir() -> Path:
    """Where the embedded database and the model-id cache live: ./var of the checkout; for an installed docsum the
    user's data directory (XDG_DATA_HOME, else ~/.local/share), never site-packages."""
    if IN_CHECKOUT:
        return REPO_ROOT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "docsum"


DATA_DIR = _data_dir()


class Settings(BaseSettings):
    # Inputs are never echoed in errors: a bad value may be a password.
    model_config = SettingsConfigDict(env_prefix="DOCSUM_", env_file=None, extra="ignore", hide_input_in_errors=True)

    # --- storage and queue -------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{DATA_DIR / 'docsum.db'}",
        description="SQLAlchemy URL. Embedded default: a SQLite file under ./var/ of the checkout, or the user's data "
        "directory (~/.local/share/docsum) for an installed docsum.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (Redis). Unset: run with an in-process worker on an in-memory transport.",
    )

    # --- model and inference -----------------------------------------------------------------
    model: str | None = Field(default=None, description="Model directory. Unset: the shipped default model.")
    device: str | None = Field(
        default=None, description="torch device ('cuda', 'cuda:1', 'cpu'). Unset: CUDA if available."
    )
    max_batch_tokens: int = Field(
        default=8192, ge=8, description="Padded-token budget of one encoder batch (count x longest)."
    )
    inference_dtype: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="What the model computes in: auto (bf16 where the processor runs it natively: CUDA GPUs, CPUs "
        "with AMX or AVX512-BF16; else fp32), fp32 or bf16.",
    )
    summary_sentences: int = Field(default=3, ge=1, description="Default k: sentences per summary.")

    # --- ingest limits -----------------------------------------------------------------------
    max_file_bytes: int = Field(default=200 * 1024 * 1024, description="Larger inputs fail as 'oversized'.")
    max_archive_bytes: int = Field(default=2 * 1024**3, description="Limit on the total expanded size of one archive.")
    max_archive_ratio: float = Field(
        default=200.0, description="Limit on expanded/compressed size of an archive member."
    )
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
    max_text_chars: int = Field(
        default=2_000_000,
        description="An extracted text is cut to this many characters (at a line or sentence end), with a note: "
        "the worker stores, splits and tokenizes what extraction returns, so this bounds its memory per document.",
    )
    ocr: bool = Field(default=True, description="OCR PDF pages that have no text layer (needs Tesseract installed).")
    ocr_languages: str = Field(default="eng", description="Tesseract languages for OCR, e.g. 'eng' or 'eng+deu'.")
    ocr_dpi: int = Field(default=300, description="Resolution pages are rendered at for OCR.")
    ocr_page_seconds: float = Field(
        default=60.0, description="Time limit of OCR on one page; beyond it the page is skipped."
    )

    # --- workers -----------------------------------------------------------------------------
    chunk_size: int = Field(default=64, ge=1, description="Documents per summarize task.")
    ingest_chunk_size: int = Field(default=16, ge=1, description="Files per ingest task.")
    visibility_timeout: int = Field(
        default=4 * 3600,
        description="Seconds before Redis redelivers an unacknowledged task. Far above a chunk's duration.",
    )
    max_deliveries: int = Field(
        default=3, ge=1, description="A task delivered more often than this fails its jobs (poison cap)."
    )
    store_every: int | None = Field(
        default=None,
        ge=0,
        description="A summarize worker commits results every this many documents of a chunk. Unset: about two "
        "encoder batches' worth of documents (max_batch_tokens) at a time. 0: the whole chunk in one transaction.",
    )
    metrics_port: int | None = Field(
        default=None, description="Port of a worker's Prometheus metrics (/metrics). Unset: no metrics server."
    )
    no_worker_warning_s: float = Field(
        default=30.0,
        ge=0,
        description="`docsum run` says so when no worker takes its work for this many seconds (0: never).",
    )
    report_dir: Path | None = Field(
        default=None, description="Folder where each finished nightly batch leaves its HTML report. Unset: none."
    )
    nightly_cron: str = Field(default="0 2 * * *", description="Cron expression of the nightly bulk run (beat).")
    nightly_roots: list[str] = Field(default_factory=list, description="Archive roots of the nightly run (JSON list).")

    # --- flower ------------------------------------------------------------------------------
    flower_address: str = Field(default="127.0.0.1", description="Flower listen address.")
    flower_port: int = Field(default=5555, description="Flower port.")
    flower_basic_auth: str | None = Field(
        default=None, description="user:password[,user2:password2]. Required when Flower listens beyond loopback."
    )

    # --- data for training, evaluation and benchmarks ----------------------------------------
    shared_data: Path = Field(
        default=DEFAULT_SHARED_DATA, description="The reference datasets (CNN/DM, BBC, extraction benchmarks)."
    )

    @field_validator("nightly_cron")
    @classmethod
    def _five_cron_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"must be 5 cron fields (minute hour day month weekday), got {value!r}")
        from celery.schedules import crontab  # only when a cron is set: celery's own parser, so beat cannot refuse it

        minute, hour, day_of_month, month_of_year, day_of_week = fields
        try:
            crontab(minute, hour, day_of_week, day_of_month, month_of_year)
        except ValueError as error:  # out-of-range numbers, unknown names
            raise ValueError(f"{value!r} is not a valid cron expression: {error}") from None
        return value

    @field_validator("nightly_roots")
    @classmethod
    def _roots_are_paths(cls, value: list[str]) -> list[str]:
        if any(not root.strip() for root in value):
            raise ValueError("archive roots must be non-empty paths")
        return [str(Path(root).expanduser()) for root in value]

    @field_validator("broker_url")
    @classmethod
    def _empty_broker_is_unset(cls, value: str | None) -> str | None:
        # `DOCSUM_BROKER_URL=` (set, but empty) means what unset means: the in-process worker. Taken as a URL, it
        # would send work to an in-memory queue that no worker reads.
        return (value.strip() or None) if value is not None else None

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        # The URL may hold a password: the messages never repeat it.
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(
                "not a database URL (e.g. sqlite:////path/docsum.db or postgresql+psycopg://user:pw@host/db)"
            ) from None
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"unknown database kind {url.drivername!r} (use sqlite or postgresql+psycopg)") from None
        return value.strip()

    @field_validator("flower_basic_auth")
    @classmethod
    def _user_password_pairs(cls, value: str | None) -> str | None:
        if value is None:
            return None
        pairs = [pair.partition(":") for pair in value.split(",")]
        if not all(user and sep and password for user, sep, password in pairs):
            # The value itself is a secret: the message never repeats it.
            raise ValueError("must be user:password[,user2:password2], each part non-empty")
        return value

    @property
    def model_path(self) -> Path | None:
        """The model to load: DOCSUM_MODEL, else the shipped model if present, else None (the bundled encoder under
        an untrained head). The one place that decides it."""
        if self.model:
            return Path(self.model).expanduser()
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
        if not (path / "config.json").is_file():  # a mistyped DOCSUM_MODEL: a setting to fix, not a missing input
            raise ModelNotFound(
                f"no model at DOCSUM_MODEL={self.model} ({'no config.json there' if path.is_dir() else 'not found'}); "
                "set it to a model directory (models/docsum-minilm-cnndm of the source tree, or one `docsum train` "
                "wrote)"
            )
        return path


def is_loopback(address: str) -> bool:
    """True only for addresses provably on this machine (a host name, or "" for all interfaces, is not)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def describe(error: ValidationError | pydantic_settings.SettingsError) -> str:
    """One line per bad setting, named by its environment variable (never its value)."""
    if isinstance(error, pydantic_settings.SettingsError):  # a value that is not even JSON where JSON is expected
        field = str(error).partition('field "')[2].partition('"')[0] or "?"
        return f'DOCSUM_{field.upper()}: not valid JSON (e.g. ["/data/archive"])'
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"DOCSUM_{field.upper()}: {message}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment, read once. Raises InvalidSetting for a value docsum cannot use."""
    try:
        return Settings()
    except (ValidationError, pydantic_settings.SettingsError) as error:
        raise InvalidSetting(describe(error)) from None
