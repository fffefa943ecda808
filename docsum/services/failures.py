"""Why a document failed, in words a report can group by and a metric can label with.

`failure_reason` keeps the leading phrase of a stored error ("corrupt PDF: unexpected EOF" -> "corrupt PDF"), which
reads well in a report; `failure_class` maps it onto a small closed set, fit for a Prometheus label (whose values must
stay few: every distinct value is a time series).
"""

from __future__ import annotations

import re

FAILURE_CLASSES = (
    "unreadable",
    "unsupported",
    "no_text",
    "too_large",
    "timeout",
    "poison",
    "model",
    "internal",
    "other",
)

# First match wins; patterns look at the start of the stored reason.
_CLASS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("timeout", r"extraction time limit|time limit"),
        ("poison", r"gave up after"),
        ("too_large", r"oversized|archive has \d+ members|too large|limit"),
        ("unsupported", r"unsupported|nested archive|encrypted|no text layer"),
        ("no_text", r"no text|document has no sentences|empty file"),
        ("unreadable", r"corrupt|unreadable|not a regular file|not found"),
        ("model", r"summarize failed|model .* could not be loaded"),
        ("internal", r"internal error"),
    )
)

_MAX_REASON = 80


def gave_up(deliveries: int) -> str:
    """The reason of a document whose work was delivered `deliveries` times and never finished (a poison message)."""
    return f"gave up after {deliveries} deliveries"


def failure_reason(error: str | None) -> str:
    """The leading phrase of an error: up to its first ':' (or ' ('), at most 80 characters."""
    text = " ".join((error or "unknown").split())
    head = re.split(r": | \(", text, maxsplit=1)[0] or text
    return head if len(head) <= _MAX_REASON else head[: _MAX_REASON - 1] + "…"


def failure_class(error: str | None) -> str:
    """One of FAILURE_CLASSES."""
    text = error or ""
    for name, pattern in _CLASS_PATTERNS:
        if pattern.search(text):
            return name
    return "other"
