"""How failures read: the reason a poison message gets, and the leading phrase a report groups reasons by.

Their class (`docsum.errors.FailureClass`) is not read from these words: whoever fails a document or a job stores it
beside the reason.
"""

from __future__ import annotations

_MAX_REASON = 80


def gave_up(deliveries: int) -> str:
    """The reason of a document whose work was delivered `deliveries` times and never finished (a poison message)."""
    return f"gave up after {deliveries} deliveries"


def failure_reason(error: str | None) -> str:
    """The leading phrase of an error: up to its first ': ' (or ' ('), at most 80 characters."""
    text = " ".join((error or "unknown").split())
    head = min((text.find(sep) for sep in (": ", " (") if sep in text), default=len(text))
    head_text = text[:head] or text
    return head_text if len(head_text) <= _MAX_REASON else head_text[: _MAX_REASON - 1] + "…"
