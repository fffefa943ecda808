"""The one exception extraction raises: a document that cannot become text, with the reason we store and its class."""

from __future__ import annotations

from docsum.errors import FailureClass


class ExtractionError(Exception):
    """Raised by extractors for a bad document; `reason` is the readable text stored in `documents.error`, `failure`
    its class, stored in `documents.failure_class`."""

    def __init__(self, reason: str, failure: FailureClass) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = FailureClass(failure)

    def __reduce__(self):  # crosses process boundaries (the extraction sandbox) with both arguments
        return type(self), (self.reason, self.failure)
