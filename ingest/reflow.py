"""Hard-wrapped lines → one paragraph per line, which is what the sentence splitter expects.

PDF text boxes and wrapped plain text break lines mid-sentence. Lines are joined unless a line ends
where a sentence could end, so a break is kept only where a sentence boundary is likely anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SENTENCE_END = re.compile(r"""[.!?:;…。！？:;"'”’»)\]]$""")
_HYPHENATED = re.compile(r"[^\W\d_]-$")  # "infor-" + "mation": a word split by hyphenation


def ends_sentence(text: str) -> bool:
    """Whether a line ends where a sentence (or heading with punctuation) could end."""
    return bool(_SENTENCE_END.search(text))


def join_lines(current: str, line: str) -> str:
    """Append a wrapped line to a paragraph, undoing hyphenation ("infor-" + "mation")."""
    if not current:
        return line
    if _HYPHENATED.search(current) and line[:1].islower():
        return current[:-1] + line
    return f"{current} {line}"


def reflow_lines(lines: Iterable[str]) -> list[str]:
    """Join the lines of one block into paragraphs, breaking only after a line that ends a sentence
    (or at an empty line)."""
    paragraphs: list[str] = []
    current = ""
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        current = join_lines(current, line)
        if ends_sentence(current):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def reflow_text(text: str) -> str:
    """Blank-line separated blocks of possibly wrapped lines → one paragraph per line."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [p for block in blocks for p in reflow_lines(block.split("\n"))]
    return "\n".join(paragraphs)
