"""The exceptions docsum raises to its users, all under one base, `DocsumError`.

Each also derives from the built-in its meaning matches (LookupError, ValueError, TimeoutError, RuntimeError), so
code written against the built-ins keeps working. This module imports nothing of docsum, so any layer may raise
these, and name a `FailureClass`.
"""

from __future__ import annotations

import enum


class FailureClass(enum.StrEnum):
    """Why a document or a job failed, as data: one of a small closed set, stored beside the readable reason
    (`documents.failure_class`, `jobs.failure_class`), grouped by reports and used as a Prometheus label (whose values
    must stay few: every distinct value is a time series)."""

    unreadable = "unreadable"  # corrupt, truncated, or the bytes could not be read
    unsupported = "unsupported"  # a format docsum does not read (binary data, nested archives, encryption)
    no_text = "no_text"  # read, but nothing to summarize
    too_large = "too_large"  # over a size, page, member or memory limit
    timeout = "timeout"  # over a time limit
    poison = "poison"  # delivered again and again without finishing: given up
    model = "model"  # the summarizer failed on it
    internal = "internal"  # a bug: the reason says where
    other = "other"  # stored before failures had classes, and not recognised

    @classmethod
    def of_failed(cls, value: str | None) -> FailureClass:
        """The class of a failed row from its stored value: none stored (a row failed before classes were stored) or
        one this release does not know (written by a newer one) is other."""
        try:
            return cls(value)
        except ValueError:
            return cls.other


class DocsumError(Exception):
    """Base of every error docsum raises on purpose."""


class BatchNotFound(DocsumError, LookupError):
    """No batch has this id."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(f"batch {int(batch_id)} does not exist")
        self.batch_id = int(batch_id)


class BatchCancelled(DocsumError):
    """The batch was cancelled: its work cannot be retried (submit its documents in a new batch)."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(f"batch {int(batch_id)} is cancelled; submit its documents in a new batch")
        self.batch_id = int(batch_id)


class NoText(DocsumError, ValueError):
    """A text to summarize has no sentences (empty, or only whitespace and markup)."""


class WaitTimeout(DocsumError, TimeoutError):
    """A batch did not finish within the time asked for; it keeps running."""


class WorkerStopped(DocsumError, RuntimeError):
    """The in-process worker stopped before the batch finished."""


class ModelNotFound(DocsumError, FileNotFoundError):
    """No model is configured and none is shipped with this installation (set DOCSUM_MODEL)."""


class DatabaseNotSetUp(DocsumError, RuntimeError):
    """The database has no docsum schema, and this mode does not create one: `docsum db upgrade` sets it up."""


class DatabaseUnwritable(DocsumError, RuntimeError):
    """The database refuses writes that waiting will not cure (its disk is full, it is read-only, its file cannot be
    opened): the work that needed them stopped, and the message says what to check."""


class InvalidSetting(DocsumError, ValueError):
    """The environment holds a setting docsum cannot use (one that does not parse, or that celery rejects); the
    message names the variable and never its value. The CLI prints it as one `error:` line."""


class BrokerUnavailable(DocsumError, ConnectionError):
    """Work could not be enqueued; the message says what became of the batch."""
