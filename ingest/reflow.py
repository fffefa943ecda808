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


_OPEN = re.compile(r"""^["'“‘(\[]*""")


def starts_lowercase(line: str) -> bool:
    """The line begins with a lowercase word ("information ...", "enough, because ..."): the rest of a sentence."""
    first = _OPEN.sub("", line.lstrip())[:1]
    return first.isalpha() and first.islower()


def ends_mid_sentence(text: str) -> bool:
    """The text stops where no sentence can: after a comma or a lowercase word ("... you will get no")."""
    text = text.rstrip()
    if text.endswith(","):
        return True
    last = text.rsplit(None, 1)[-1] if text else ""
    return last.isalpha() and last.islower() and (len(last) > 1 or last == "a")  # not a marker like "x"


def continues_sentence(current: str, line: str) -> bool:
    """`line` goes on with the sentence `current` leaves open: `current` has no final punctuation, and either it
    stops mid-clause or `line` starts with a lowercase word."""
    return bool(current) and not ends_sentence(current) and (ends_mid_sentence(current) or starts_lowercase(line))


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
