"""The four tables: documents, batches, jobs, summaries (contract: docs/ARCHITECTURE.md, "Database").

Status columns are written only by `db.status`; everything else may read these models and create rows.
Enums are stored as their string values in VARCHAR(16) (no native PostgreSQL enum, no CHECK constraint), so the
schema, and therefore the migrations, are identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

# Explicit constraint names: both backends get the same names, so autogenerate and batch migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the only clock the database layer uses."""
    return datetime.now(UTC)


def params_key(params: dict[str, Any]) -> str:
    """Canonical JSON of summarization params (sorted keys, no spaces): equal params give equal keys."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always hands back aware UTC datetimes.

    PostgreSQL keeps the zone itself; SQLite stores text without one, so values are normalised to UTC on the way in
    and tagged UTC on the way out. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the database stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DocumentStatus(enum.StrEnum):
    extracted = "extracted"
    failed = "failed"


class BatchStatus(enum.StrEnum):
    running = "running"
    finished = "finished"
    cancelled = "cancelled"


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def _status_type(enum_cls: type[enum.StrEnum]) -> Enum:
    # Values (not member names) in the column; VARCHAR(16) on both backends; unknown strings rejected in Python.
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=16,
        validate_strings=True,
        values_callable=lambda cls: [m.value for m in cls],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def sentence_skips_of(info: list[dict[str, Any]] | None) -> list[str | None] | None:
    """Per sentence, why it is not a summary candidate (None: it is), from its sentence_info records; None when
    there are no records, or they predate candidates (no "skip" key: the reader classifies those sentences)."""
    if info is None or not all(isinstance(record, dict) and "skip" in record for record in info):
        return None
    return [record["skip"] for record in info]


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_uri: Mapped[str] = mapped_column(String(2048))  # a path, or "archive.zip!member/path"
    # Null only when no bytes could be read; unique so the same content is stored once (dedupe).
    content_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    media_type: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String)
    author: Mapped[str | None] = mapped_column(String)
    published: Mapped[str | None] = mapped_column(String(64))  # as found; ISO 8601 when parseable
    language: Mapped[str | None] = mapped_column(String(16))
    page_count: Mapped[int | None] = mapped_column(Integer)
    byte_size: Mapped[int | None] = mapped_column(BigInteger)  # archives and large PDFs can pass 2 GiB
    text: Mapped[str | None] = mapped_column(Text)
    sentences: Mapped[list[str] | None] = mapped_column(JSON)
    # The sentences tokenized ahead (bertsum.preprocess.SentenceTokens.to_bytes: word counts and token ids, int32)
    # and the fingerprint of the tokenizer they were made with, kept apart so that "which documents need tokens"
    # never reads the tokens.
    token_key: Mapped[str | None] = mapped_column(String(64))
    token_ids: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # One record per sentence, same order: {"start", "end"} (character span in `text`), "page" (1-based, PDFs; else
    # null), "skip" (why it is not a summary candidate, or null: ingest.candidates), "ocr" (read from a page image).
    sentence_info: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The "skip" of each of those records, kept apart and set with them (see _keep_skips): a summarize worker reads
    # these few bytes per document instead of parsing every record. SQL NULL (never JSON null) for records that
    # predate candidates, so that a reader can tell in SQL which documents need their records read.
    sentence_skips: Mapped[list[str | None] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[DocumentStatus] = mapped_column(_status_type(DocumentStatus))
    error: Mapped[str | None] = mapped_column(Text)  # a readable reason when status is failed
    # Beside `error`: its class (a docsum.errors.FailureClass value), for grouping and metrics. A string column, not
    # an enum type, so that a class added later needs no migration and an older reader sees it as "other".
    failure_class: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)  # what extraction left out (pages past the cap, a cut page)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="document", passive_deletes=True)

    def __repr__(self) -> str:
        return f"Document(id={self.id!r}, source_uri={self.source_uri!r}, status={self.status!r})"

    @validates("sentence_info")
    def _keep_skips(self, _key: str, info: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        self.sentence_skips = sentence_skips_of(info)
        return info


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    model_id: Mapped[str | None] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[BatchStatus] = mapped_column(_status_type(BatchStatus), default=BatchStatus.running)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    # Ingest progress; increment in SQL (`files_done = files_done + n`) so concurrent ingest tasks do not lose counts.
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    # Snapshot written by db.status when the batch ends; while running, use db.status.batch_counts (GROUP BY on jobs).
    n_queued: Mapped[int] = mapped_column(Integer, default=0)
    n_running: Mapped[int] = mapped_column(Integer, default=0)
    n_succeeded: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_cancelled: Mapped[int] = mapped_column(Integer, default=0)
    # The batch's change marker: bumped, under this row's lock, by every transaction that makes jobs of the batch
    # final, which stamp it on those jobs (Job.final_seq). The lock orders the bumps as the commits, so "jobs with a
    # marker above the last one read" never skips a job that commits late (as a timestamp or a database sequence
    # could: they are taken before the commit, in an order the commits need not keep).
    final_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    jobs: Mapped[list[Job]] = relationship(back_populates="batch", passive_deletes=True)

    def __repr__(self) -> str:
        return f"Batch(id={self.id!r}, name={self.name!r}, status={self.status!r})"


# Jobs not yet final, by batch: "has this batch any open job?" is asked after every chunk, and must not cost a scan
# of the batch's jobs (a nightly batch over an archive holds millions). Partial, so it stays as small as the work
# in flight. Queries that want it state the same predicate, literally (a bound parameter would not prove it).
JOB_IS_OPEN = "status IN ('queued', 'running')"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("batch_id", "document_id"),
        Index(
            "ix_jobs_open_batch_id",
            "batch_id",
            postgresql_where=text(JOB_IS_OPEN),
            sqlite_where=text(JOB_IS_OPEN),
        ),
        # Client.as_completed: "the batch's jobs final since marker N", read from the index on each poll.
        Index("ix_jobs_batch_id_final_seq", "batch_id", "final_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    # Indexed: "jobs of this document" lookups, and the cascade when a document is deleted.
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"k": 3, "block_trigrams": true, "max_words": null}
    params_key: Mapped[str] = mapped_column(String(255))  # db.models.params_key(params)
    status: Mapped[JobStatus] = mapped_column(_status_type(JobStatus), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # deliveries since the last (re)queue
    error: Mapped[str | None] = mapped_column(Text)
    failure_class: Mapped[str | None] = mapped_column(String(16))  # beside `error`, as on documents
    worker_host: Mapped[str | None] = mapped_column(String)
    final_seq: Mapped[int | None] = mapped_column(BigInteger)  # its batch's marker when it became final
    enqueued_at: Mapped[datetime | None] = mapped_column()  # sent to the broker (services.batches.dispatch)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    batch: Mapped[Batch] = relationship(back_populates="jobs")
    document: Mapped[Document] = relationship(back_populates="jobs")
    summary: Mapped[Summary | None] = relationship(back_populates="job", passive_deletes=True)

    def __repr__(self) -> str:
        return (
            f"Job(id={self.id!r}, batch_id={self.batch_id!r}, document_id={self.document_id!r}, status={self.status!r})"
        )


class Summary(Base):
    __tablename__ = "summaries"
    # "Does this document already have a summary for this model and parameters?" (nightly run, every run's new
    # jobs); unique: at most one summary per document, model and parameters, whatever the code does.
    __table_args__ = (
        Index("ix_summaries_document_id_model_id_params_key", "document_id", "model_id", "params_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String)
    params_key: Mapped[str] = mapped_column(String(255))
    sentence_indices: Mapped[list[int]] = mapped_column(JSON)  # document order
    scores: Mapped[list[float]] = mapped_column(JSON)  # same order as sentence_indices
    text: Mapped[str] = mapped_column(Text)
    # Set when the summary is not the model's pick: e.g. no sentence was a candidate, so the longest lines stand in.
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="summary")

    def __repr__(self) -> str:
        return f"Summary(id={self.id!r}, job_id={self.job_id!r}, document_id={self.document_id!r})"


class ArchiveFile(Base):
    """A file as ingest last saw it (path, size, mtime), so that the nightly run skips it unread when unchanged."""

    __tablename__ = "archive_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(2048), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()  # set when a nightly scan no longer finds it

    def __repr__(self) -> str:
        return f"ArchiveFile(path={self.path!r}, size={self.size!r}, mtime_ns={self.mtime_ns!r})"
