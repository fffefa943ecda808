"""Words hyphenated at a line break ("pri-" / "vacy"), joined once the whole document is known.

While lines are joined, a line-break hyphen followed by a lowercase continuation becomes a soft hyphen (U+00AD).
`resolve` then decides per word: the hyphen stays when the document writes that word with a hyphen elsewhere and
never without ("well-known" stays "well-known"), otherwise the halves join ("privacy").
"""

from __future__ import annotations

import re

SOFT_HYPHEN = "\u00ad"
_MARKED = re.compile(rf"(\w+){SOFT_HYPHEN}(\w+)")
_HYPHENATED_WORD = re.compile(r"\w+(?:-\w+)+")
_WORD = re.compile(r"\w+")


def resolve(text: str) -> str:
    """Every soft hyphen: a plain hyphen where the document spells the word so (and never joined), else nothing."""
    if SOFT_HYPHEN not in text:
        return text
    plain = text.replace(SOFT_HYPHEN, "\x00")  # marked words must not count as evidence for themselves
    hyphenated = {w.casefold() for w in _HYPHENATED_WORD.findall(plain)}
    words = {w.casefold() for w in _WORD.findall(plain)}

    def choose(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        if f"{head}-{tail}".casefold() in hyphenated and f"{head}{tail}".casefold() not in words:
            return f"{head}-{tail}"
        return head + tail

    return _MARKED.sub(choose, text).replace(SOFT_HYPHEN, "")
