"""Every stored sentence knows where it is: its character span in the stored text and, for PDFs, its page."""

from __future__ import annotations

import pytest
from fpdf import FPDF
from sqlalchemy import select

from docsum.config import Settings
from docsum.db.migrate import upgrade
from docsum.db.models import Document
from docsum.db.session import dispose_engine, make_session_factory
from docsum.ingest.candidates import REPEATED
from docsum.ingest.citations import AlignmentError, locate_sentences, page_of, page_starts, sentence_info
from docsum.ingest.extract import extract_document
from docsum.ingest.pipeline import ingest_paths

SETTINGS = Settings(database_url="sqlite://")

PAGES = [
    [
        "The harbour board met on Tuesday to discuss the dredging of the northern channel.",
        "Engineers said the work would take eleven weeks and close two berths at a time.",
    ],
    [
        "Fishing crews asked for the work to begin after the herring season ends in March.",
        "The board agreed to publish a schedule of closures before any contract is signed.",
    ],
    [
        "A public meeting about the plans is set for the first Thursday of next month.",
    ],
]


def paged_pdf(pages: list[list[str]] = PAGES, header: str = "Harbourton Port Authority Bulletin") -> bytes:
    """A PDF with a running header and a page number on every page."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "I", 8)
        pdf.set_xy(10, 8)
        pdf.cell(0, 5, header)
        pdf.set_font("Helvetica", "", 11)
        pdf.set_xy(10, 30)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
        pdf.set_font("Helvetica", "", 8)
        pdf.set_xy(100, 285)
        pdf.cell(10, 5, str(number))
    return bytes(pdf.output())


def test_spans_point_at_the_sentences_in_the_text() -> None:
    text = "Headline kept as title\nFirst  sentence\n  wraps here. Second one!\f Third on page two."
    sentences = ["First sentence wraps here.", "Second one!", "Third on page two."]
    spans = locate_sentences(text, sentences)
    assert [" ".join(text[a:b].split()) for a, b in spans] == sentences
    assert spans[0][0] == text.index("First")
    starts = page_starts(text)
    assert [page_of(starts, a) for a, _ in spans] == [1, 1, 2]
    with pytest.raises(AlignmentError):
        locate_sentences(text, ["Not in the text at all."])


def test_sentence_info_records() -> None:
    text = "One short line\nThe second line is a real sentence with words."
    info = sentence_info(text, ["One short line", "The second line is a real sentence with words."], paged=False)
    assert info == [
        {"start": 0, "end": 14, "page": None, "skip": "fragment", "ocr": False},
        {"start": 15, "end": len(text), "page": None, "skip": None, "ocr": False},
    ]


def test_pdf_sentences_know_their_page_and_span() -> None:
    doc = extract_document(paged_pdf(), "bulletin.pdf", SETTINGS)
    assert doc.page_count == 3 and len(doc.sentence_info) == len(doc.sentences)
    for sentence, info in zip(doc.sentences, doc.sentence_info):
        assert " ".join(doc.text[info["start"] : info["end"]].split()) == sentence
        assert info["page"] == doc.text.count("\f", 0, info["start"]) + 1
    by_text = dict(zip(doc.sentences, doc.sentence_info))
    for page, paragraphs in enumerate(PAGES, start=1):
        for sentence in paragraphs:
            assert by_text[sentence]["page"] == page and by_text[sentence]["skip"] is None
    # The running header and the page numbers stay in the text but are not candidates.
    furniture = [i for s, i in zip(doc.sentences, doc.sentence_info) if s.startswith("Harbourton Port") or s.isdigit()]
    assert len(furniture) == 6 and all(i["skip"] == REPEATED for i in furniture)


def test_stored_sentence_info_on_both_databases(any_db_url: str, tmp_path) -> None:
    upgrade(any_db_url)
    factory = make_session_factory(any_db_url)
    try:
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "bulletin.pdf").write_bytes(paged_pdf())
        note = "A wrapped plain text note that\nspans two lines here.\n\nAnd a second paragraph.\n"
        (tmp_path / "in" / "note.txt").write_text(note)
        report = ingest_paths(factory, [tmp_path / "in"], Settings(database_url=any_db_url))
        assert [i.outcome for i in report.items] == ["ingested", "ingested"]
        with factory() as session:
            docs = {d.source_uri.rsplit("/", 1)[-1]: d for d in session.scalars(select(Document))}
        pdf, note = docs["bulletin.pdf"], docs["note.txt"]
        assert all(isinstance(i["page"], int) and i["page"] >= 1 for i in pdf.sentence_info)
        assert all(i["page"] is None for i in note.sentence_info)
        for doc in (pdf, note):
            assert len(doc.sentence_info) == len(doc.sentences)
            assert doc.sentence_skips == [i["skip"] for i in doc.sentence_info]  # stored apart for the worker
            for sentence, info in zip(doc.sentences, doc.sentence_info):
                assert " ".join(doc.text[info["start"] : info["end"]].split()) == sentence
    finally:
        dispose_engine(any_db_url)
