"""Extraction without a database: sniffing, decoding, the sentence splitter, PDF/HTML/text extractors on built files."""

from __future__ import annotations

import pytest
from ingest_helpers import ARTICLE, html_page, image_only_pdf, make_pdf

from docsum.config import Settings
from docsum.ingest.decode import declared_html_charset, decode_bytes, decode_html
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import extract_document
from docsum.ingest.pdf import _remove_unmapped_glyphs, parse_pdf_date, plausible_title
from docsum.ingest.reflow import reflow_text
from docsum.ingest.sentences import split_sentences
from docsum.ingest.sniff import sniff_media_type

SETTINGS = Settings(database_url="sqlite://")


def extract(data: bytes, name: str, settings: Settings = SETTINGS):
    return extract_document(data, name, settings)


def failure(data: bytes, name: str, settings: Settings = SETTINGS) -> str:
    with pytest.raises(ExtractionError) as info:
        extract_document(data, name, settings)
    return info.value.reason


# --- the splitter -------------------------------------------------------------------------------


def test_split_sentences_paragraphs_first_then_sentences() -> None:
    text = "Dr. Smith arrived at 5 p.m. on Monday. He left early!\n\n  A heading without a stop  \nLast one? Yes."
    assert split_sentences(text, "en") == [
        "Dr. Smith arrived at 5 p.m. on Monday.",
        "He left early!",
        "A heading without a stop",
        "Last one?",
        "Yes.",
    ]


def test_split_sentences_is_deterministic_and_robust() -> None:
    text = "\f".join(ARTICLE) + "\n\n\n \t \n"
    first = split_sentences(text, None)
    assert first == split_sentences(text, "en") == split_sentences(text, "xx-unknown") == ARTICLE
    assert split_sentences("", None) == [] and split_sentences(" \n\f\t", "de") == []
    assert all(s == s.strip() and s for s in first)
    assert split_sentences("Erster  Satz.\tZweiter Satz.", "de_DE") == ["Erster Satz.", "Zweiter Satz."]


def test_split_sentences_other_scripts() -> None:
    assert split_sentences("你好。我很好！谢谢", "zh") == ["你好。", "我很好！", "谢谢"]


# --- sniffing and decoding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"%PDF-1.7\n", "report.txt", "application/pdf"),
        (b"\n<!-- c -->\n<!DOCTYPE html><html>", "page.txt", "text/html"),
        ("<html><body>x".encode("utf-16"), "u16", "text/html"),
        (b"<p>only a fragment</p>", "frag.htm", "text/html"),
        (b"<p>only a fragment</p>", "frag.txt", "text/plain"),
        (b"# Title\n\ntext", "notes.md", "text/markdown"),
        (bytes(range(256)) * 4, "junk.pdf", "application/octet-stream"),
        (b"PK\x03\x04" + b"\x00" * 300, "a.bin", "application/zip"),
    ],
)
def test_sniff_by_content(head: bytes, name: str, expected: str) -> None:
    assert sniff_media_type(head, name) == expected


def test_decode_bom_then_declaration_then_detector() -> None:
    assert decode_bytes("\ufeffCafé".encode()) == ("Café", "utf-8")
    assert decode_bytes("Café".encode("utf-16")) == ("Café", "utf-16-le")
    page = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"><p>Zürich – café</p>'
    assert declared_html_charset(page.encode("cp1252")) == "cp1252"  # WHATWG: latin-1 labels mean windows-1252
    assert decode_html(page.encode("cp1252"))[0] == page
    japanese = '<meta charset="shift_jis"><p>東京で会議が開かれた。</p>'
    assert decode_html(japanese.encode("shift_jis"))[0] == japanese
    # An undeclared legacy page is left to the detector, which must not produce mojibake here.
    german = "Die Straße in München wurde für den Verkehr gesperrt, weil die Brücke repariert wird."
    assert decode_bytes(german.encode("cp1252"))[0] == german


# --- text and markdown -----------------------------------------------------------------------------


def test_plain_text_reflows_hard_wrapped_lines() -> None:
    wrapped = (
        "The council met on Tuesday and voted to\nrebuild the old bridge. Work starts in\nMay.\n\n"
        "A second paragraph\nfollows here."
    )
    assert reflow_text(wrapped) == (
        "The council met on Tuesday and voted to rebuild the old bridge. Work starts in May.\n"
        "A second paragraph follows here."
    )
    doc = extract(wrapped.encode("cp1252"), "story.txt")
    assert doc.media_type == "text/plain" and doc.language == "en"
    assert doc.sentences[1] == "Work starts in May."


def test_markdown_markup_stripped() -> None:
    md = "# Big *news* today\n\nThe [mayor](http://x.org) said **no**,\nwrapped here. Then `code`.\n\n- one item\n"
    doc = extract(md.encode(), "a.md")
    assert doc.media_type == "text/markdown" and doc.title == "Big news today"
    # The headline is the title, not a sentence to summarize; the text keeps it.
    assert doc.sentences == ["The mayor said no, wrapped here.", "Then code.", "one item"]
    assert doc.text.startswith("Big news today")


# --- HTML --------------------------------------------------------------------------------------------


def test_html_main_content_without_nav_ads_comments_in_legacy_charset() -> None:
    paragraphs = [p.replace("Monday", "Montag in Zürich") for p in ARTICLE]
    doc = extract(html_page(paragraphs, title="Stauseen erholen sich – endlich", charset="windows-1252"), "page.html")
    assert doc.media_type == "text/html"
    assert doc.title == "Stauseen erholen sich – endlich"
    assert "Montag in Zürich" in doc.text
    for boilerplate in ("Home", "mattresses", "First comment", "Copyright"):
        assert boilerplate not in doc.text
    # paragraph structure kept: one paragraph per line
    assert doc.text.splitlines()[-len(paragraphs) :] == paragraphs
    assert doc.sentences[-len(paragraphs) :] == paragraphs


def test_html_without_content_fails_as_no_text() -> None:
    page = b'<html><head><title>Gallery</title></head><body><img src="a.png"><img src="b.png"></body></html>'
    assert failure(page, "gallery.html").startswith("no text")


# --- PDF ---------------------------------------------------------------------------------------------


def test_pdf_pages_metadata_and_sentences() -> None:
    doc = extract(make_pdf([ARTICLE, ARTICLE[:2]]), "water.pdf")
    assert doc.media_type == "application/pdf" and doc.page_count == 2
    pages = doc.text.split("\f")
    assert len(pages) == 2 and pages[1].splitlines() == ARTICLE[:2]
    assert (doc.title, doc.author, doc.published, doc.language) == (
        "Reservoirs recover",
        "Desk",
        "2024-01-15T10:30:00+00:00",
        "en",
    )
    assert doc.sentences == ARTICLE + ARTICLE[:2]


@pytest.mark.parametrize(
    "metadata",
    [
        "10811.exe",
        "zen_of_python.txt",
        "905_Precinct_NoOU",
        "Microsoft Word - quarterly report.docx",
        "C:\\Users\\clerk\\Desktop\\minutes.doc",
        "/home/ann/drafts/paper.tex",
        "Untitled-1",
        "Document1",
        "PowerPoint Presentation",
        "12345",
    ],
)
def test_pdf_metadata_title_that_names_a_file_gives_way_to_the_file_name(metadata: str) -> None:
    assert plausible_title(metadata) is None
    doc = extract(make_pdf([ARTICLE], title=metadata), "water.pdf")
    assert doc.title is None and doc.sentences == ARTICLE


@pytest.mark.parametrize(
    ("metadata", "title"),
    [
        ("Reservoirs recover", "Reservoirs recover"),
        ("Microsoft Word - Reservoirs recover after a wet winter", "Reservoirs recover after a wet winter"),
        ("Annual report 2023", "Annual report 2023"),
        ("Zeitschrift für Umweltrecht", "Zeitschrift für Umweltrecht"),
    ],
)
def test_pdf_metadata_title_kept_when_it_reads_as_one(metadata: str, title: str) -> None:
    assert plausible_title(metadata) == title


def test_pdf_page_cap() -> None:
    capped = SETTINGS.model_copy(update={"max_pdf_pages": 2})
    doc = extract(make_pdf([[f"This is page {i}."] for i in range(1, 6)]), "long.pdf", capped)
    assert doc.page_count == 2 and doc.sentences == ["This is page 1.", "This is page 2."]


def test_pdf_named_txt_is_a_pdf() -> None:
    assert extract(make_pdf([ARTICLE]), "notes.txt").media_type == "application/pdf"


def test_bad_pdfs_fail_with_reasons() -> None:
    assert failure(image_only_pdf(), "scan.pdf").startswith("no text layer")
    assert failure(make_pdf([ARTICLE], password="secret"), "locked.pdf") == "encrypted (password required)"
    assert failure(make_pdf([ARTICLE])[:300], "cut.pdf").startswith("corrupt PDF")
    assert failure(b"", "empty.pdf") == "empty file (0 bytes)"
    junk = bytes((i * 7919) % 256 for i in range(5000))
    assert failure(junk, "junk.pdf") == (
        "unsupported content: binary data (named .pdf, but the content is not application/pdf)"
    )


def test_encrypted_pdf_with_empty_user_password_opens() -> None:
    # Only an owner password (permissions): readers open it with the empty password, and so do we.
    doc = extract(make_pdf([ARTICLE], password=""), "perm.pdf")
    assert doc.sentences == ARTICLE


def test_unmapped_glyphs() -> None:
    garbage = " ".join(f"(cid:{i})" for i in range(40)) + " ok"
    with pytest.raises(ExtractionError, match=r"unmapped glyphs: text layer unreadable \(cid:N\)"):
        _remove_unmapped_glyphs(garbage)
    assert _remove_unmapped_glyphs("Hello (cid:3) world, this is readable.\fPage two") == (
        "Hello world, this is readable.\fPage two"
    )


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("D:20240115103000+01'00'", "2024-01-15T10:30:00+01:00"),
        ("D:20240115103000Z", "2024-01-15T10:30:00+00:00"),
        ("D:20091231235959-05'30", "2009-12-31T23:59:59-05:30"),
        ("D:20240115", "2024-01-15"),
        ("D:2024", "2024"),
        ("D:00000101000000Z", "D:00000101000000Z"),  # not a date: kept as found
        ("yesterday", "yesterday"),
    ],
)
def test_pdf_dates(raw: str, iso: str) -> None:
    assert parse_pdf_date(raw) == iso


# --- time limit ---------------------------------------------------------------------------------------


def test_time_limit_in_main_thread_and_in_worker_threads() -> None:
    import signal
    import threading

    limited = SETTINGS.model_copy(update={"max_extract_seconds": 0.001})
    long_page = html_page(ARTICLE * 400)
    before = signal.getsignal(signal.SIGVTALRM)
    # main thread: the CPU alarm interrupts trafilatura (no callbacks of ours in there)
    assert failure(long_page, "long.html", limited) == "extraction exceeded 0.001 s"
    assert signal.getsignal(signal.SIGVTALRM) is before and signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    # other threads get no signals: the PDF extractor's own deadline checks stop it
    reasons: list[str] = []
    pdf = make_pdf([ARTICLE] * 3)
    zero = SETTINGS.model_copy(update={"max_extract_seconds": 0.0})
    thread = threading.Thread(target=lambda: reasons.append(failure(pdf, "a.pdf", zero)))
    thread.start()
    thread.join()
    assert reasons == ["extraction exceeded 0 s"]
    assert extract(pdf, "a.pdf").page_count == 3  # and without the limit it extracts


# --- PDF lines that break mid-sentence ------------------------------------------------------------------------


def _placed_lines_pdf(lines: list[tuple[float, float, str, float]]) -> bytes:
    """One page of text lines placed at (x, y) in mm with a font size, as LaTeX and typescript set them."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for x, y, text, size in lines:
        pdf.set_font("Helvetica", size=size)
        pdf.text(x, y, text)
    return bytes(pdf.output())


def test_pdf_double_spaced_lines_that_break_mid_sentence_are_joined() -> None:
    # Typescript (a court transcript) puts more than a line's height between lines: pdfminer makes each line a box.
    data = _placed_lines_pdf(
        [
            (40, 40, "The above-entitled matter came on for oral", 12),
            (20, 50, "argument before the Supreme Court of the United States", 12),
            (20, 60, "at 1:01 p.m. and the clerk read the case aloud.", 12),
            (20, 70, "APPEARANCES", 12),
            (20, 80, "The counsel for the petitioner spoke first.", 12),
        ]
    )
    doc = extract(data, "transcript.pdf")
    assert doc.sentences[0] == (
        "The above-entitled matter came on for oral argument before the Supreme Court of the United States at "
        "1:01 p.m. and the clerk read the case aloud."
    )
    assert "APPEARANCES" in doc.sentences  # a heading that ends no sentence is not glued onto the next line
    assert "The counsel for the petitioner spoke first." in doc.sentences


def test_pdf_hanging_indented_rest_of_a_long_line_is_joined() -> None:
    # A list of appearances wraps each entry with a hanging indent, double-spaced: the entry's first line stops after
    # a capitalized word ("Los" + "Angeles"), so only the indent says that the next line goes on with it.
    data = _placed_lines_pdf(
        [
            (20, 40, "The above-entitled matter came on for oral argument before the Court at 1:01 p.m.", 12),
            (20, 50, "APPEARANCES", 12),
            (20, 60, "STEVEN E. MERCER, ESQ., Deputy Attorney General, Los", 12),
            (26, 70, "Angeles, Cal.; on behalf of the Petitioner.", 12),
            (20, 80, "CHARLES M. SEVILLA, ESQ., San Diego, Cal.; on behalf", 12),
            (26, 90, "of the Respondent.", 12),
            (20, 100, "CONTENTS", 12),
            (26, 110, "Oral argument of the counsel for the petitioner.", 12),
        ]
    )
    doc = extract(data, "transcript.pdf")
    assert "STEVEN E. MERCER, ESQ., Deputy Attorney General, Los Angeles, Cal.; on behalf of the Petitioner." in (
        doc.sentences
    )
    assert "CHARLES M. SEVILLA, ESQ., San Diego, Cal.; on behalf of the Respondent." in doc.sentences
    # A short heading above an indented line is no wrapped entry: it stays apart.
    assert "CONTENTS" in doc.sentences and "APPEARANCES" in doc.sentences
    # Nor is a table of short cells, where every line is as wide as a full one.
    cells = _placed_lines_pdf(
        [(20, 40 + 10 * i, text, 12) for i, text in enumerate(["145 MARSHALL TUCK", "78 TOM TORLAKSON"])]
        + [(26, 60, "ASSESSOR", 12), (20, 70, "99 JEFFREY PRANG", 12)]
    )
    assert "78 TOM TORLAKSON" in extract(cells, "table.pdf").sentences


def test_pdf_sentence_that_goes_on_at_the_top_of_the_next_column_is_joined() -> None:
    left = [
        "Hello, here is some text without a meaning.",
        "This text should show what a printed text",
        "will look like at this place. If you read",
        "this text, you will get no",
    ]
    right = ["information. Is there information?", "Is there a difference between this text", "and some nonsense?"]
    data = _placed_lines_pdf(
        [(20, 30 + 5 * i, line, 10) for i, line in enumerate(left)]
        + [(110, 30 + 5 * i, line, 10) for i, line in enumerate(right)]
    )
    doc = extract(data, "twocolumn.pdf")
    assert "If you read this text, you will get no information." in doc.sentences
    assert not any(s.endswith(" no") for s in doc.sentences)


def test_pdf_open_sentence_goes_on_in_another_font_size_within_a_block() -> None:
    data = _placed_lines_pdf(
        [
            (20, 30, "Annuities are taxed as explained on page 12 of these notes.", 10),
            (20, 34.5, "If you are the beneficiary of an", 10),
            (20, 39, "employee who died, see chapter 5 for the rules.", 9),
        ]
    )
    doc = extract(data, "instructions.pdf")
    assert "If you are the beneficiary of an employee who died, see chapter 5 for the rules." in doc.sentences
