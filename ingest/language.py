"""Language of a text, when the document does not say: py3langid on a prefix of the text."""

from __future__ import annotations

_SAMPLE_CHARS = 5000  # enough for a stable guess, cheap on long documents
_MIN_CHARS = 20  # below this a guess is noise


def detect_language(text: str) -> str | None:
    sample = " ".join(text[:_SAMPLE_CHARS].split())
    if len(sample) < _MIN_CHARS:
        return None
    import py3langid  # loads its model on first use

    language, _score = py3langid.classify(sample)
    return language
