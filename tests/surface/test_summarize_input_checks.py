"""`docsum.summarize` checks what it is given: anything but a str or a list of str is a TypeError that says what it
takes (and, for bytes and paths, what to call instead); a bad `k` names what k is; text without a usable sentence,
control characters only included, is NoText (a ValueError), never an error from deep inside the model."""

from __future__ import annotations

from pathlib import Path

import pytest

import docsum
from docsum.config import Settings

STORY = (
    "Heavy rain flooded several streets in the old town on Sunday night. Firefighters pumped water out of dozens of "
    "cellars. The weather service expects more rain on Wednesday."
)
CONTROL_ONLY = ["\x1b\x07\x00\x01", "\x00" * 50, "\x0b\x0c\x1c\x1d\x1e\x85", "\x7f\x80\x81\x9f", "\ufeff\u200e\u202e"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(device="cpu")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, r"summarize takes a str or a list of str, not None"),
        (b"bytes of a file", r"not bytes: decode it first .* docsum.summarize_file\(data\)"),
        (bytearray(b"x"), r"not bytearray"),
        (Path("story.txt"), r"not a path \(\w*Path\): call docsum.summarize_file\(path\)"),
        (42, r"summarize takes a str or a list of str, not int"),
        ({"text": STORY}, r"not dict"),
        ([STORY, None], r"text 2 of 2 is NoneType, not str"),
    ],
)
def test_what_summarize_does_not_take_is_a_type_error_that_says_what_it_does(value, says, settings) -> None:
    with pytest.raises(TypeError, match=says):
        docsum.summarize(value, settings=settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", ["3", 2.5, True])
def test_k_must_be_an_int(k, settings: Settings) -> None:
    with pytest.raises(TypeError, match=r"k is the number of sentences per summary, an int"):
        docsum.summarize(STORY, k=k, settings=settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", CONTROL_ONLY)
def test_control_characters_only_is_no_text(text: str, settings: Settings) -> None:
    with pytest.raises(docsum.NoText) as raised:
        docsum.summarize(text, settings=settings)
    assert isinstance(raised.value, ValueError) and str(raised.value).startswith("the text ")
    with pytest.raises(docsum.NoText, match="text 2 of 2"):
        docsum.summarize([STORY, text], settings=settings)
