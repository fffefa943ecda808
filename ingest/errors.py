"""The one exception extraction raises: a document that cannot become text, with the reason we store."""

from __future__ import annotations


class ExtractionError(Exception):
    """Raised by extractors for a bad document; `reason` is the readable text stored in `documents.error`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
