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
    """Whether a line ends where a sentence (or heading with punctuation) could end. Only the end is read: a
    search of the whole text at every joined line made reflow quadratic in the lines of a paragraph."""
    return bool(_SENTENCE_END.search(text[-2:]))


_OPEN = re.compile(r"""^["'“‘(\[]*""")


def starts_lowercase(line: str) -> bool:
    """The line begins with a lowercase word ("information ...", "enough, because ..."): the rest of a sentence."""
    first = _OPEN.sub("", line.lstrip())[:1]
    return first.isalpha() and first.islower()


_LAST_WORD_CHARS = 256  # what the end tests read of a paragraph: its last word, not all of it


def ends_mid_sentence(text: str) -> bool:
    """The text stops where no sentence can: after a comma or a lowercase word ("... you will get no")."""
    text = text[-_LAST_WORD_CHARS:].rstrip()
    if text.endswith(","):
        return True
    last = text.rsplit(None, 1)[-1] if text else ""
    return last.isalpha() and last.islower() and (len(last) > 1 or last == "a")  # not a marker like "x"


def continues_sentence(current: str, line: str) -> bool:
    """`line` goes on with the sentence `current` leaves open: `current` has no final punctuation, and either it
    stops mid-clause or `line` starts with a lowercase word."""
    return bool(current) and not ends_sentence(current) and (ends_mid_sentence(current) or starts_lowercase(line))


def continues_word(current: str, line: str) -> bool:
    """`current` ends in a hyphen after a letter and `line` goes on in lowercase: one word split by the break."""
    return bool(_HYPHENATED.search(current[-3:])) and line[:1].islower()


class Paragraph:
    """A paragraph joined from wrapped lines, kept as pieces: growing one string by every line copied it whole
    each time, quadratic in its lines (a megabyte of unpunctuated lines took minutes)."""

    def __init__(self) -> None:
        self._pieces: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._pieces)

    @property
    def tail(self) -> str:
        """The last line added (at least its last word): what the end-of-sentence tests read."""
        return self._pieces[-1] if self._pieces else ""

    def add(self, line: str, hyphen: str = "") -> None:
        """Append a wrapped line. A word hyphenated at the break ("infor-" + "mation") is joined, with `hyphen`
        in place of the line-end hyphen."""
        if self._pieces and continues_word(self._pieces[-1], line):
            self._pieces[-1] = self._pieces[-1][:-1] + hyphen
            self._pieces.append(line)
        else:
            self._pieces.append(f" {line}" if self._pieces else line)

    def take(self) -> str:
        """The paragraph's text; the builder starts empty again."""
        text = "".join(self._pieces)
        self._pieces.clear()
        return text


def reflow_lines(lines: Iterable[str]) -> list[str]:
    """Join the lines of one block into paragraphs, breaking only after a line that ends a sentence
    (or at an empty line)."""
    paragraphs: list[str] = []
    current = Paragraph()
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            if current:
                paragraphs.append(current.take())
            continue
        current.add(line)
        if ends_sentence(current.tail):
            paragraphs.append(current.take())
    if current:
        paragraphs.append(current.take())
    return paragraphs


def reflow_text(text: str) -> str:
    """Blank-line separated blocks of possibly wrapped lines → one paragraph per line."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [p for block in blocks for p in reflow_lines(block.split("\n"))]
    return "\n".join(paragraphs)
