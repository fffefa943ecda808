"""`docsum.summarize` and `Client.summarize_text`: one call, the text path of ingest, the shipped model, offsets that
point back into the caller's string."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import docsum
from docsum.client import Client
from docsum.config import Settings
from docsum.db.models import Batch, Document
from docsum.ingest.extract import extract_document
from docsum.services.models import get_summarizer, model_path
from docsum.services.summary_sentences import FALLBACK_NOTE, offered_indices

REPO_ROOT = Path(__file__).resolve().parents[2]

# Hard-wrapped, with a word hyphenated across a line break and a blank line between paragraphs.
WRAPPED = """The city council voted on Tuesday to approve a new budget for the coming year, after months of
debate over spending on schools and roads. The budget includes a five per cent increase for educa-
tion and new money for repairing old bridges across the river.
Critics said the plan would raise property taxes for many homeowners in the northern districts.

Supporters said the investment in roads and schools was long overdue. The mayor is expected
to sign the budget next week, and officials said the first projects would begin in the spring."""

OTHER = (
    "Heavy rain flooded several streets in the old town on Sunday night. Firefighters pumped water out of dozens of "
    "cellars. The weather service expects more rain on Wednesday, and residents were told to move cars away from the "
    "riverbank. Schools will open as usual."
)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(device="cpu")


def squash(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and ch != "-")


def test_one_text_takes_the_ingest_path_and_points_back_into_it(settings: Settings) -> None:
    summary = docsum.summarize(WRAPPED, k=2, settings=settings)
    assert isinstance(summary, docsum.TextSummary)

    # The same sentences ingest stores for this text as a .txt file: lines joined, the hyphenated word whole.
    stored = extract_document(WRAPPED.encode(), "budget.txt", settings)
    assert summary.all_sentences == stored.sentences and summary.n_sentences == len(stored.sentences)
    assert any("education" in s for s in summary.all_sentences)
    assert not any(s.endswith("of") for s in summary.all_sentences)  # no fragment cut at a line end

    # The same engine result as the worker's summarizer on the sentences ingest's candidate rule offers it.
    summarizer = get_summarizer(settings, model_path(settings))
    offered = offered_indices(stored.sentences, stored.sentence_info)
    expected = summarizer.summarize([[stored.sentences[i] for i in offered]], k=2)[0]
    assert summary.indices == [offered[i] for i in expected.indices]
    assert summary.scores == pytest.approx(expected.scores) and summary.note is None
    assert summary.model_id == summarizer.model_id
    assert len(summary.sentences) == 2 and summary.indices == sorted(summary.indices)
    assert summary.sentences == [stored.sentences[i] for i in summary.indices]
    assert str(summary) == summary.text == " ".join(summary.sentences)

    # Every span is the sentence as written in the input (line breaks and the hyphen included).
    for sentence, span in zip(summary.sentences, summary.spans, strict=True):
        assert span is not None
        start, end = span
        assert squash(WRAPPED[start:end]) == squash(sentence)
        assert WRAPPED[start:end].strip() == WRAPPED[start:end]
    assert summary.language == "en"


def test_a_list_gives_a_list_in_order_and_k_is_kept(settings: Settings) -> None:
    results = docsum.summarize([OTHER, WRAPPED], k=1, settings=settings)
    assert isinstance(results, list) and len(results) == 2
    assert [len(r.sentences) for r in results] == [1, 1]
    assert "rain" in results[0].all_sentences[0].lower() and "council" in results[1].all_sentences[0]
    single = docsum.summarize(OTHER, k=1, settings=settings)
    assert single.indices == results[0].indices  # batching with another text changes nothing
    for result, text in zip(results, [OTHER, WRAPPED], strict=True):
        (start, end), sentence = result.spans[0], result.sentences[0]
        assert squash(text[start:end]) == squash(sentence)


def test_text_without_sentences_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(docsum.NoText, match="the text has no sentences"):
        docsum.summarize("   \n\n  ", settings=settings)
    with pytest.raises(docsum.DocsumError, match="text 2 of 2 has no sentences"):
        docsum.summarize([OTHER, ""], settings=settings)
    with pytest.raises(ValueError, match="k must be at least 1"):
        docsum.summarize(OTHER, k=0, settings=settings)
    with pytest.raises(TypeError, match="text 1 of 1 is bytes"):
        docsum.summarize([b"bytes"], settings=settings)  # type: ignore[list-item]


def test_client_summarize_text_touches_no_queue_and_no_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docsum.db'}", device="cpu")
    with Client(settings) as client:
        summary = client.summarize_text(OTHER, k=2)
        assert len(summary.sentences) == 2
        story = REPO_ROOT / "examples" / "archive" / "marathon-record.txt"
        assert client.summarize_file(story, k=2).indices == client.summarize_text(story.read_text(), k=2).indices
        assert client._worker is None  # no worker was started
        with client.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(Document)) == 0
            assert session.scalar(select(func.count()).select_from(Batch)) == 0
        # A string given to submit says where strings go.
        with pytest.raises(FileNotFoundError, match=r"looks like text; to summarize a string, call docsum.summarize"):
            client.submit(OTHER)


def test_import_docsum_is_lazy() -> None:
    code = (
        "import sys, docsum\n"
        "assert 'torch' not in sys.modules and 'celery' not in sys.modules, 'heavy import'\n"
        "assert callable(docsum.summarize) and docsum.BatchNotFound.__mro__[1].__name__ == 'DocsumError'\n"
        "assert issubclass(docsum.BatchNotFound, LookupError)\n"
        "assert 'torch' not in sys.modules\n"
        "print(sorted(docsum.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "summarize" in out.stdout and "BatchHandle" in out.stdout


def test_a_text_and_docsum_run_on_its_file_pick_the_same_sentences(settings: Settings, tmp_path: Path) -> None:
    """A headline line is the title, not a sentence to pick; the lead follows, as `docsum run` picks it."""
    source = REPO_ROOT / "examples" / "archive" / "marathon-record.txt"
    text = source.read_text(encoding="utf-8")
    out = tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    env.update(DOCSUM_DATABASE_URL=f"sqlite:///{tmp_path / 'docsum.db'}", DOCSUM_DEVICE="cpu", HF_HUB_OFFLINE="1")
    run = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "docsum"), "run", str(source), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]

    from_text = docsum.summarize(text, settings=settings)
    from_file = docsum.summarize_file(source, settings=settings)
    assert from_text.indices == from_file.indices == record["indices"]
    assert from_text.sentences == from_file.sentences == [s["text"] for s in record["sentences"]]
    assert from_text.title == record["title"] == "Local runner smashes Harbourton marathon course record"
    assert not any("smashes" in s for s in from_text.sentences) and from_text.sentences[0].startswith("Amina Yusuf")
    # Spans: in the caller's string for a text, in the extracted text (as the export's start/end) for a file.
    assert [from_file.document_text[a:b] for a, b in from_file.spans] == from_file.sentences
    assert [(s["start"], s["end"]) for s in record["sentences"]] == from_file.spans
    assert all(squash(text[a:b]) == squash(s) for (a, b), s in zip(from_text.spans, from_text.sentences, strict=True))


def test_html_text_short_text_and_files(settings: Settings) -> None:
    page = (
        "<html><body><article><p>The council met on Monday to discuss the budget for next year.</p>"
        "<p>It approved new money for schools and roads across the city.</p></article>"
        "<footer>Copyright 2024 City News.</footer></body></html>"
    )
    html = docsum.summarize(page, k=2, settings=settings)
    assert html.media_type == "text/html" and not any("<" in s or "Copyright" in s for s in html.sentences)
    assert html.sentences[0].startswith("The council met on Monday")

    # Too short for the model: the longest line stands in, and the summary says so.
    short = docsum.summarize("Hello world.", settings=settings)
    assert short.sentences == ["Hello world."] and short.scores == [0.0] and short.note == FALLBACK_NOTE

    # A paginated file: each selected sentence has its page.
    pdf = docsum.summarize_file(REPO_ROOT / "examples" / "archive" / "coral-reef.pdf", k=2, settings=settings)
    assert pdf.media_type == "application/pdf" and len(pdf.sentences) == 2 and all(pdf.pages)
    same = docsum.summarize_file(
        (REPO_ROOT / "examples" / "archive" / "coral-reef.pdf").read_bytes(), k=2, settings=settings
    )
    assert same.indices == pdf.indices
    with pytest.raises(docsum.NoText, match=r"broken\.pdf cannot be read: corrupt PDF"):
        docsum.summarize_file(b"%PDF-1.7\n" + b"\x00garbage" * 50, name="broken.pdf", settings=settings)
