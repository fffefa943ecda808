"""Pages and texts built to make extraction slow or lossy: many sibling blocks, deep nesting, one endless sentence.
Each keeps its text and says what it did; bench/bad_inputs.py times the same cases."""

from __future__ import annotations

from docsum.config import Settings
from docsum.ingest.citations import locate_sentences
from docsum.ingest.extract import extract_document
from docsum.ingest.html import MAX_EXTRACTOR_BLOCKS, plain_text
from docsum.ingest.sentences import MAX_SENTENCE_CHARS, cut_sentence, split_sentences

SETTINGS = Settings(database_url="sqlite://")
BUDGET = (
    "The council approved the budget after a long debate. Members said the plan would fund schools and roads. "
    "The vote was twelve to three."
)


def test_a_page_of_many_sibling_blocks_keeps_every_block() -> None:
    n = 5 * MAX_EXTRACTOR_BLOCKS
    page = "<html><body><nav><a href='/'>Home</a></nav><article>"
    page += "".join(f"<p>Item {i} was logged by the clerk.</p>" for i in range(n)) + "</article>"
    page += "<script>var tracking = 1;</script></body></html>"
    roomy = SETTINGS.model_copy(update={"max_html_chars": len(page), "max_text_chars": len(page)})
    doc = extract_document(page.encode(), "log.html", roomy)
    assert f"Item {n - 1} was logged by the clerk." in doc.sentences
    assert sum(s.startswith("Item ") for s in doc.sentences) == n
    assert not any("tracking" in s for s in doc.sentences)  # scripts are not text
    assert f"a page of {n + 2:,} blocks: the whole visible text is kept" in doc.notes


def test_lowercase_sibling_blocks_join_into_one_line_per_run() -> None:
    # Blocks that go on a sentence ("... with an</p><p>effective way") join; many of them in a row must not make
    # the join slow or lose any: every piece is in the text, in order.
    n = 3 * MAX_EXTRACTOR_BLOCKS
    text = plain_text("<body>" + "".join(f"<p>part {i}</p>" for i in range(n)) + "</body>")
    assert text == " ".join(f"part {i}" for i in range(n))


def test_deeply_nested_page_keeps_its_text() -> None:
    depth = 200_000
    page = "<html><body>" + "<div>" * depth + f"<p>{BUDGET}</p>" + "</div>" * depth + "</body></html>"
    doc = extract_document(page.encode(), "deep.html", SETTINGS)
    assert doc.sentences == split_sentences(BUDGET)
    assert "no main content found: the page's whole visible text is kept" in doc.notes


def test_an_endless_sentence_is_cut_into_pieces_and_noted() -> None:
    words = ("word " * 300_000).strip()  # 1.5 MB, no sentence end anywhere
    doc = extract_document(f"{BUDGET}\n{words}\n{BUDGET}".encode(), "endless.txt", SETTINGS)
    assert max(len(s) for s in doc.sentences) <= MAX_SENTENCE_CHARS
    pieces = [s for s in doc.sentences if s.startswith("word")]
    assert " ".join(pieces) == words  # nothing lost, nothing added
    assert doc.sentences[-3:] == split_sentences(BUDGET)
    assert "1 sentence over 2,000 characters cut into pieces" in doc.notes
    # Citations still point at the stored text.
    spans = locate_sentences(doc.text, doc.sentences)
    assert all(" ".join(doc.text[a:b].split()) == s for (a, b), s in zip(spans, doc.sentences, strict=True))


def test_cut_sentence_prefers_spaces_and_cuts_a_word_without_any() -> None:
    assert cut_sentence("aaa bbb ccc", limit=7) == ["aaa bbb", "ccc"]
    assert cut_sentence("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]
    assert cut_sentence("short", limit=10) == ["short"]


def test_a_long_hard_wrapped_paragraph_joins_whole() -> None:
    # 40,000 wrapped lines with no sentence end: one paragraph, joined in one pass (joining by growing one string
    # and searching it whole at every line took minutes), then cut into sentences of at most the cap.
    lines = [f"line {i} of a report typed without stops" for i in range(40_000)]
    doc = extract_document("\n".join(lines).encode(), "wrapped.txt", SETTINGS)
    assert " ".join(doc.sentences) == " ".join(lines)
    assert max(len(s) for s in doc.sentences) <= MAX_SENTENCE_CHARS
