"""Real-document layout: HTML blocks and hidden nodes, headlines, PDF hyphenation across blocks, rotated text,
empty-password encryption, scans read by OCR (Tesseract, offline), and errors that say what a file is."""

from __future__ import annotations

import io
import re
import textwrap

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from docsum.config import Settings
from docsum.ingest.errors import ExtractionError
from docsum.ingest.extract import extract_document
from docsum.ingest.html import choose_headline
from docsum.ingest.ocr import installed_languages, ocr_available
from docsum.ingest.quality import shingle_f1

SETTINGS = Settings(database_url="sqlite://")
FILLER = (
    "The regional water board published its annual report on Thursday, and it makes for sober reading. "
    "Reservoir levels fell for the third year in a row while demand from farms and new housing kept rising. "
)


def page(body: str, title: str = "Water board report | The Courier", head: str = "") -> bytes:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article>{body}</article><footer>Copyright The Courier</footer></body></html>"
    ).encode()


# --- HTML ----------------------------------------------------------------------------------------------------


def test_a_source_newline_inside_a_paragraph_is_not_a_sentence_break() -> None:
    body = (
        "<h1>Water board report</h1>"
        f"<p>{FILLER}</p>"
        "<p>The Fetch API intends\nto fix most of these problems, the engineers\n   wrote in their notes.</p>"
        "<p>A second paragraph was split<br>\nby a line break in the middle of its sentence.</p>"
        f"<p>{FILLER}</p>"
    )
    doc = extract_document(page(body), "a.html", SETTINGS)
    assert "The Fetch API intends to fix most of these problems, the engineers wrote in their notes." in doc.sentences
    assert "A second paragraph was split by a line break in the middle of its sentence." in doc.sentences
    assert not any(s.endswith(("intends", "split")) for s in doc.sentences)


def test_hidden_nodes_are_dropped() -> None:
    body = (
        f"<h1>Water board report</h1><p>{FILLER}</p>"
        "<p style='display: none'>Subscribe now to read the hidden premium paragraph about reservoirs.</p>"
        "<div hidden><p>A hidden teaser paragraph that no reader of the page ever sees.</p></div>"
        "<p aria-hidden='true'>Screen readers and eyes skip this decorative duplicate sentence.</p>"
        "<p style='VISIBILITY:hidden'>An invisible paragraph still takes up space on the page.</p>"
        f"<p>Visible closing paragraph. {FILLER}</p>"
    )
    doc = extract_document(page(body), "b.html", SETTINGS)
    for hidden in ("premium", "teaser", "decorative", "invisible"):
        assert hidden not in doc.text
    assert "Visible closing paragraph." in doc.text


def test_headline_prefers_the_visible_h1() -> None:
    body = f"<h1>Reservoirs fall for a third year</h1><p>{FILLER}</p><p>{FILLER}</p>"
    doc = extract_document(page(body, title="Water | The Courier - News, sport and weather"), "c.html", SETTINGS)
    assert doc.title == "Reservoirs fall for a third year"
    assert doc.sentences[0] != "Reservoirs fall for a third year"  # the headline is the title, not a sentence
    # The rule on its own: the article's own h1, then a single page h1 the title contains, then the title.
    assert choose_headline("Headline | Site", ["Headline"], None) == "Headline"
    assert choose_headline("An SEO title", ["Menu", "Headline"], None) == "An SEO title"
    assert choose_headline(None, ["Only heading"], None) == "Only heading"
    assert choose_headline("Title", [], "Body h1") == "Body h1"


# --- PDF layout ------------------------------------------------------------------------------------------------


def hyphen_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(20, 30)
    pdf.multi_cell(120, 6, "The new data protection rules strengthen the pri-")
    pdf.set_xy(20, 60)  # far below: pdfminer starts a new text block here
    pdf.multi_cell(120, 6, "vacy of every customer who shops online. A well-known shop owner agreed with them.")
    pdf.set_xy(20, 90)
    pdf.multi_cell(120, 6, "Many owners describe the new rules as well-")
    pdf.multi_cell(120, 6, "known and fair to every party in the market.")
    return bytes(pdf.output())


def test_line_break_hyphens_join_across_blocks_and_compounds_stay() -> None:
    doc = extract_document(hyphen_pdf(), "h.pdf", SETTINGS)
    assert "The new data protection rules strengthen the privacy of every customer who shops online." in doc.sentences
    # "well-known" is written with a hyphen elsewhere in the document: the hyphen at the break is kept.
    assert "Many owners describe the new rules as well-known and fair to every party in the market." in doc.sentences
    assert "\u00ad" not in doc.text


def test_rotated_text_reads_as_lines_of_its_own() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(20, 30)
    pdf.multi_cell(120, 6, "The council published the draft budget for next year on its website today.")
    with pdf.rotation(90, 180, 200):
        pdf.text(180, 200, "Draft version for internal review only")
    with pdf.rotation(-90, 195, 60):
        pdf.text(195, 60, "Printed on recycled paper in Harbourton")
    doc = extract_document(bytes(pdf.output()), "r.pdf", SETTINGS)
    assert "Draft version for internal review only" in doc.sentences
    assert "Printed on recycled paper in Harbourton" in doc.sentences
    assert not any(len(s) == 1 for s in doc.sentences)  # never one letter per line


@pytest.mark.parametrize("method", ["RC4", "AES_128", "AES_256"])
def test_encrypted_pdf_with_an_empty_user_password_is_read(method: str) -> None:
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 7, "The locked report says the ferry timetable will change in May for the summer season.")
    pdf.set_encryption(owner_password="owner-secret", user_password="", encryption_method=EncryptionMethod[method])
    doc = extract_document(bytes(pdf.output()), "locked.pdf", SETTINGS)
    assert doc.sentences == ["The locked report says the ferry timetable will change in May for the summer season."]


# --- scans and OCR -----------------------------------------------------------------------------------------------

SCAN_TEXT = [
    "The harbour authority approved a new ferry terminal on Monday after a long public debate.",
    "Construction will begin in the spring and is expected to take about two years to complete.",
    "Officials said the terminal would handle twice as many passengers as the old building.",
    "Local shop owners welcomed the plan but asked for fewer road closures during the works.",
]

needs_tesseract = pytest.mark.skipif(
    not ocr_available() or "eng" not in installed_languages(),
    reason="Tesseract with English is not installed (make install installs it: apt-get install tesseract-ocr "
    "tesseract-ocr-eng)",
)


def text_image(lines: list[str], width: int = 2000) -> bytes:
    """Known text rendered to a JPEG, as a scanner would deliver it."""
    font = ImageFont.load_default(size=38)
    wrapped = [w for line in lines for w in textwrap.wrap(line, 70)]
    image = Image.new("L", (width, 80 + 56 * len(wrapped)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(wrapped):
        draw.text((60, 40 + 56 * i), line, fill=0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def scanned_pdf(pages: list[list[str]]) -> bytes:
    pdf = FPDF()
    for lines in pages:
        pdf.add_page()
        pdf.image(io.BytesIO(text_image(lines)), x=10, y=10, w=190)
    return bytes(pdf.output())


@needs_tesseract
def test_ocr_reads_a_two_page_scan() -> None:
    data = scanned_pdf([SCAN_TEXT[:2], SCAN_TEXT[2:]])
    doc = extract_document(data, "scan.pdf", SETTINGS)
    assert doc.page_count == 2 and doc.ocr_pages == [1, 2]
    assert shingle_f1(doc.text, " ".join(SCAN_TEXT), n=1) >= 0.9  # word F1 against the rendered text
    assert {info["page"] for info in doc.sentence_info} == {1, 2}
    assert all(info["ocr"] for info in doc.sentence_info)


@needs_tesseract
def test_a_scan_pdfminer_cannot_parse_is_rendered_by_pdfium_and_read() -> None:
    data = scanned_pdf([SCAN_TEXT[:2]])
    broken = re.sub(rb"/Type /Page\n", b"\n", data)  # pdfminer then finds no page at all
    doc = extract_document(broken, "broken-scan.pdf", SETTINGS)
    assert doc.ocr_pages == [1] and shingle_f1(doc.text, " ".join(SCAN_TEXT[:2]), n=1) >= 0.9


def test_errors_say_what_the_file_is() -> None:
    data = scanned_pdf([SCAN_TEXT[:1]])
    no_ocr = SETTINGS.model_copy(update={"ocr": False})
    with pytest.raises(ExtractionError) as info:
        extract_document(data, "scan.pdf", no_ocr)
    assert info.value.reason == "no text layer (image-only pages (a scan); OCR is off (DOCSUM_OCR))"
    truncated = data[: data.index(b"endstream", data.index(b"/DCTDecode")) + 20]  # cut after the page image
    for settings in (SETTINGS, no_ocr):
        with pytest.raises(ExtractionError) as info:
            extract_document(truncated, "cut-scan.pdf", settings)
        assert info.value.reason.startswith("scanned PDF (1 page image) whose structure pdfminer cannot parse")
        assert "corrupt" not in info.value.reason


@needs_tesseract
def test_ocr_time_limit_per_page() -> None:
    settings = SETTINGS.model_copy(update={"ocr_page_seconds": 0.001})
    with pytest.raises(ExtractionError) as info:
        extract_document(scanned_pdf([SCAN_TEXT[:1]]), "slow.pdf", settings)
    assert "OCR time limit exceeded (0.001 s per page)" in info.value.reason


def test_a_plain_text_headline_is_the_title_not_a_sentence() -> None:
    story = b"Local runner smashes course record\n\nAmina Yusuf broke the record on Sunday in\ncool conditions.\n"
    doc = extract_document(story, "story.txt", SETTINGS)
    assert doc.title == "Local runner smashes course record"
    assert doc.sentences == ["Amina Yusuf broke the record on Sunday in cool conditions."]
    note = b"The meeting moved to Friday.\n\nBring the budget papers, please.\n"
    assert extract_document(note, "note.txt", SETTINGS).title is None  # a sentence is not a headline
