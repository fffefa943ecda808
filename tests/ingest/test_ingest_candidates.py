"""The candidate rule: which stored sentences a summarizer may pick, and why the others may not."""

from __future__ import annotations

import pytest

from docsum.ingest.candidates import (
    ADDRESS,
    BANNER,
    BYLINE,
    FRAGMENT,
    MARKUP,
    REPEATED,
    candidate_indices,
    count_words,
    repeated_lines,
    skip_reason,
    skip_reasons,
)


@pytest.mark.parametrize(
    ("sentence", "words"),
    [
        ("The council met on Monday.", 5),
        ("12 345 -- ***", 2),
        ("今日は天気が良いです。", 10),  # CJK characters count as words
        ("Der Rat tagte 2024.", 4),
    ],
)
def test_word_count(sentence: str, words: int) -> None:
    assert count_words(sentence) == words


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        # fragments: no letter, or fewer than four words
        ("3", FRAGMENT),
        ("12 345 678 910", FRAGMENT),
        ("Staff Reporter", FRAGMENT),
        ("Social media", FRAGMENT),
        ("天気", FRAGMENT),
        # markup debris
        ("|---|---|", MARKUP),
        ("| :--- | ---: |", MARKUP),
        ("| Country | GDP growth | Population |", MARKUP),
        ("+=========+==========+", MARKUP),
        ("<div class='caption'>A photo of the new tram line</div>", MARKUP),
        ("x = {a: [1, 2], b: (3 * 4) / 5} + 6 - 7;", MARKUP),
        # bylines and datelines
        ("By Economics Desk, 02 May 2024", BYLINE),
        ("Harbourton, 21 June 2024.", BYLINE),
        ("posted on April 21, 2015, at 11:29 a.m.", BYLINE),
        ("Updated: 12 May 2024 10:32 BST", BYLINE),
        ("Published Monday, June 3, 2024", BYLINE),
        ("By Anna Smith and John Doe", BYLINE),
        ("Last modified on 2023-11-04T10:22:00Z", BYLINE),
        # prose stays a candidate, dates and "By" included
        ("By 2030, the city will have forty trams running.", None),
        ("By the end of the year prices had risen sharply.", None),
        ("The council voted on 21 June 2024 to approve it.", None),
        ("Revenue rose 12.5% to $4.2bn in 2023, from $3.7bn in 2022.", None),
        ("LONDON, May 3 (Reuters) - Shares fell sharply on Friday after the report.", None),
        ('"Nurse Jackie," 9 p.m. ET, Sunday, Showtime', None),  # a listing, not a dateline
        ("今日は天気が良いです。", None),
    ],
)
def test_skip_reason(sentence: str, reason: str | None) -> None:
    assert skip_reason(sentence) == reason


HEADER = "IEEE TRANSACTIONS ON INFORMATION FORENSICS AND SECURITY, VOL. 13, NO. 5, MAY 2018"


def test_running_headers_and_page_numbers_repeat_across_pages() -> None:
    body = [
        "The first experiment measured the signal strength at dawn.",
        "A second run repeated it at noon with new sensors.",
        "Both runs agree within the stated error bars.",
        "The authors suggest a third run in winter.",
    ]
    sentences, pages = [], []
    for page in range(1, 5):
        sentences += [HEADER.replace("NO. 5", f"NO. {page}"), body[page - 1], f"Page {page} of 4"]
        pages += [page, page, page]
    reasons = skip_reasons(sentences, pages)
    assert [reasons[i] for i in range(0, 12, 3)] == [REPEATED] * 4  # the header, page numbers differing
    assert [reasons[i] for i in range(2, 12, 3)] == [REPEATED] * 4  # "Page N of 4"
    assert candidate_indices(sentences, pages) == [1, 4, 7, 10]
    # Without pages (HTML, text) nothing counts as repeated: the header is then a long line, a candidate.
    assert skip_reasons(sentences)[0] is None


def test_a_two_page_document_repeats_its_header_on_every_page() -> None:
    sentences = [
        "Harbourton Council Annual Report 2024",
        "The first page has its own text in it.",
        "Harbourton Council Annual Report 2024",
        "The second page talks about something else.",
    ]
    assert repeated_lines(sentences, [1, 1, 2, 2]) == {0, 2}
    assert repeated_lines(sentences, [1, 1, 1, 1]) == set()  # one page: nothing runs across pages
    with pytest.raises(ValueError):
        repeated_lines(sentences, [1, 2])


def test_a_piece_cut_out_of_a_sentence_is_a_fragment_only_in_cased_text() -> None:
    cased = [
        "The formula below shows the relation between the two values.",
        "is an example of an inline equation.",
        "Each value is measured twice by independent teams.",
        "The results agree within the stated error bars.",
        "eBay said the sale would close in June this year.",
    ]
    assert skip_reasons(cased) == [None, FRAGMENT, None, None, None]
    lowered = [s.lower() for s in cased]  # lowercased corpora (PTB-style) keep every sentence
    assert skip_reasons(lowered) == [None] * 5


@pytest.mark.parametrize(
    "sentence",
    [
        "New York University 715, Broadway, 7th Floor New York, NY, 10003",
        "Computer Science Department New York University",
        "Department of Computer Science, Stanford University, Stanford, CA 94305",
        "Yusuke Shinyama and Satoshi Sekine, yusuke@cs.nyu.edu",
        "Mercy Hospital, 1200 Main Street, Springfield, IL 62701",
        "Institut für Informatik, Universität Stuttgart, D-70569 Stuttgart",
        "Acme Widgets Inc., Suite 400, 12 Harbour Road, Harbourton",
    ],
)
def test_affiliations_addresses_and_email_lines_are_addresses(sentence: str) -> None:
    assert skip_reason(sentence) == ADDRESS


@pytest.mark.parametrize(
    "sentence",
    [
        "She studied physics at New York University before moving to Stanford.",
        "The university, on Broadway in New York, NY, opened a seventh floor for the lab.",
        "The company, based at 12 Market Street in Harbourton, employs 40 people.",
        "Researchers at the Department of Energy said the Stanford University study was flawed.",
        "Police asked witnesses to email tips@harbourton.police.uk or call the station.",
        "The 3rd Avenue store in Manhattan closed on Sunday after 40 years.",
        "New York University announced on Monday that tuition would rise by 3 percent.",
    ],
)
def test_prose_that_names_universities_streets_and_cities_stays_a_candidate(sentence: str) -> None:
    assert skip_reason(sentence) is None
    assert skip_reasons([sentence], [1]) == [None]


TRANSCRIPT = [
    "Official - Subject to Final Review",
    "IN THE SUPREME COURT OF THE UNITED STATES",
    "The above-entitled matter came on for oral argument before the Supreme Court at 1:01 p.m.",
    "Chief Justice Roberts heard the argument first this afternoon.",
    "The Court Adjourned Until Further Notice",  # title-like, but mid-page: not at an edge
    "Counsel for the respondent then answered the questions of the Court.",
    "The case was submitted at 2:05 p.m. on the same day.",
    "Alderson Reporting Company Washington DC",
]


def test_banners_and_titles_at_a_page_edge_are_skipped_in_a_one_page_pdf() -> None:
    # One page: nothing can repeat across pages, so the banner is known by its place and its form.
    pages = [1] * len(TRANSCRIPT)
    assert repeated_lines(TRANSCRIPT, pages) == set()
    reasons = skip_reasons(TRANSCRIPT, pages)
    assert reasons == [BANNER, BANNER, None, None, None, None, None, BANNER]
    # Without pages (HTML, text, news articles) a line has no page edge: the rule does not apply.
    assert skip_reasons(TRANSCRIPT)[:2] == [None, None]
    # A document that is nothing but a banner or an address keeps it: there is nothing else to summarize.
    assert skip_reasons(["Official - Subject to Final Review", "2"], [1, 1]) == [None, FRAGMENT]
    assert skip_reasons(["Computer Science Department New York University", "3"], [1, 1]) == [None, FRAGMENT]


def test_a_sentence_cut_at_a_line_end_is_a_fragment_in_a_pdf() -> None:
    sentences = [
        "The regional water authority said reservoir levels had recovered.",
        "If you read this text, you will get no",  # cut at a line end (a column or page break)
        "A GLARF converter takes a syntactic tree as an input and augments it with several",
        "Figure 3: GLARF structure of the sentence.",
        "Restrictions on garden watering will be lifted at the end of the month.",
        "Farmers welcomed the news, saying the summer had been hard,",
        "The council met in Harbourton (the county town)",  # no stop, but not cut mid-clause
        "See the notes on codes and abbreviations at the begin-",
    ]
    pages = [1, 1, 1, 2, 2, 2, 2, 2]
    assert skip_reasons(sentences, pages) == [None, FRAGMENT, FRAGMENT, None, None, FRAGMENT, None, FRAGMENT]
    # Text without pages keeps them: a headline or a list item has no final punctuation either.
    assert skip_reasons(sentences) == [None] * len(sentences)


def test_a_word_hyphenated_at_the_break_cuts_a_sentence_in_lowercased_text_too() -> None:
    # Mostly lowercase (as OCR of a two-column front page gives it): a lowercase last word proves nothing there,
    # but a sentence that stops in "begin-" was cut at the line break all the same.
    sentences = [
        "for two-letter codes and other abbreviations, refer to the guidance notes.",
        "ance notes on codes and abbreviations appearing at the begin-",
        "ning of each regular issue of the gazette.",
        "published with the international search report",
    ]
    assert skip_reasons(sentences, [1, 1, 1, 1]) == [None, FRAGMENT, None, None]
