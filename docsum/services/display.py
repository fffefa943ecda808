"""Text from files (names, titles, summaries, errors) made safe to show to a person.

A file name or a document can hold terminal control sequences: ESC sequences that recolour the terminal, set its
title or clear the screen, a carriage return that overwrites a line, a newline that splits a table row, and bidi
overrides that show text in another order than it is stored. Every human-facing output (the CLI's tables and
messages, the run report, the CSV export) passes such text through `printable`, which shows each of these characters
as an escape (ESC as `\\x1b`). Stored data and the JSONL export keep the text as it is.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode bidi embedding, override and isolate marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character shown as an escape: ESC as `\\x1b`, a newline as `\\x0a`, a right-to-left
    override as `\\u202e`."""
    return _UNSAFE.sub(_escaped, text)
