"""Which stored sentences a summarizer may pick: the one rule, used by ingest, the summarize path, training and eval.

Everything extracted stays in the stored text (citations point into it), but some of it is never a summary
sentence. `skip_reason` names why a sentence is not a candidate, or gives None for a candidate:

- "fragment": no letter, or fewer than MIN_WORDS words (each CJK character counts as a word): page numbers,
  table cells, axis ticks, pieces of sentences;
- "repeated": a running header, footer or page number, i.e. a line that recurs on several pages of a PDF;
- "markup": table rules (`|---|---|`), table rows, tags and entities that leaked through extraction;
- "byline": "By Economics Desk, 02 May 2024", "Harbourton, 21 June 2024.", "posted on April 21, 2015, at 11:29 a.m.";
- "address": an affiliation, postal address or e-mail line: names, places and numbers with an institution, a street,
  a postal code or an e-mail address, and no prose ("New York University 715, Broadway, 7th Floor New York, NY, 10003");
- "banner" (PDF): a title, banner or heading at a page's top or bottom edge: a short line in title case or capitals
  with no final punctuation ("Official - Subject to Final Review"), which a one- or two-page document never repeats.

In a PDF, a sentence with no final punctuation that stops after a comma or a lowercase word ("The above-entitled
matter came on for oral") was cut at a line end (by a figure, a column or a page break): a "fragment"; so is one
that stops in a word hyphenated at the break ("... at the begin-"), whatever the document's casing.

This module is pure Python (no docsum imports), so any layer may apply the rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

MIN_WORDS = 4
# How many distinct pages a line must appear on to be page furniture: a header on every page of a 2-page
# document counts, as does any line on 3 or more pages.
MIN_REPEAT_PAGES = 3

FRAGMENT, REPEATED, MARKUP, BYLINE, ADDRESS, BANNER = "fragment", "repeated", "markup", "byline", "address", "banner"

# CJK ideographs, kana and hangul: scripts written without spaces, where a character is roughly a word.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]")
_WORDISH = re.compile(r"\w", re.UNICODE)

# --- markup -------------------------------------------------------------------------------------------------
_RULE = re.compile(r"^[\s|+:=\-_*#~.·•]*$")  # a row of rule characters only: |---|---|, +===+, ----, ****
_TABLE_RULE = re.compile(r"\|\s*:?-{3,}")
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,6});")

# --- bylines and datelines ----------------------------------------------------------------------------------
_MONTHS = (
    r"(?:jan(?:uary|\.)?|feb(?:ruary|\.)?|mar(?:ch|\.)?|apr(?:il|\.)?|may|june?|july?|aug(?:ust|\.)?|"
    r"sep(?:t(?:ember)?|\.)?|oct(?:ober|\.)?|nov(?:ember|\.)?|dec(?:ember|\.)?)"
)
_WEEKDAYS = r"(?:mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday|\.)?"
_DATE = re.compile(
    rf"""\b(?:
        \d{{1,2}}(?:st|nd|rd|th)?\.?\s+{_MONTHS}\.?,?\s+\d{{2,4}}      # 21 June 2024, 2nd May, 2024
      | {_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}           # April 21, 2015
      | {_MONTHS}\.?\s+\d{{4}}                                        # June 2024
      | \d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[T\s]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?  # ISO
      | \d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}                            # 21/06/2024, 21.06.2024
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
_TIME = re.compile(
    r"\b\d{1,2}(?::\d{2}){1,2}\s*(?:[ap]\.?\s?m\.?)?(?:\s*\(?[A-Z]{2,4}\)?)?|\b\d{1,2}\s*[ap]\.?m\.?",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(rf"\b{_WEEKDAYS}\b", re.IGNORECASE)
# Words that surround a date in a dateline and say nothing else.
_DATELINE_WORDS = {
    "posted",
    "updated",
    "published",
    "modified",
    "created",
    "last",
    "on",
    "at",
    "by",
    "date",
    "dated",
    "am",
    "pm",
    "a.m",
    "p.m",
    "gmt",
    "utc",
    "bst",
    "cet",
    "est",
    "edt",
    "pst",
    "pdt",
    "and",
    "the",
    "of",
    "in",
    "filed",
    "first",
    "issued",
    "released",
    "revised",
    "written",
    "reviewed",
    "edited",
    "time",
    "reading",
    "min",
    "mins",
    "read",
}
_BYLINE_START = re.compile(
    r"^(?:by|written by|posted by|reported by|story by|words by|text by|photos? by|photographs? by|from)\s+(?=\S)",
    re.IGNORECASE,
)
# Lowercase words that may appear inside a byline's name part ("By Anna de la Cruz and the Economics Desk").
_NAME_PARTICLES = {
    "and",
    "of",
    "the",
    "de",
    "la",
    "del",
    "der",
    "van",
    "von",
    "da",
    "di",
    "du",
    "le",
    "in",
    "at",
    "for",
    "&",
}
_MAX_BYLINE_WORDS = 16
_TOKEN = re.compile(r"[^\W\d_][\w'’.\-]*", re.UNICODE)  # a word that starts with a letter


def count_words(sentence: str) -> int:
    """Words with at least one letter or digit; every CJK character counts as one word."""
    cjk = len(_CJK.findall(sentence))
    rest = _CJK.sub(" ", sentence)
    return cjk + sum(1 for token in rest.split() if _WORDISH.search(token))


def has_letter(sentence: str) -> bool:
    return any(ch.isalpha() for ch in sentence)


def is_fragment(sentence: str) -> bool:
    return not has_letter(sentence) or count_words(sentence) < MIN_WORDS


def is_markup(sentence: str) -> bool:
    """Table rules and rows, tags and entities: text that is layout, not prose."""
    text = sentence.strip()
    if not text or _RULE.match(text) or _TABLE_RULE.search(text):
        return True
    if text.count("|") >= 2:  # a table row flattened into a line
        return True
    if _TAG.search(text):
        return True
    letters = sum(ch.isalpha() for ch in text)
    visible = sum(not ch.isspace() for ch in text)
    return visible >= 12 and letters / visible < 0.3  # mostly symbols: code, formulas, ASCII art


def _capitalized(word: str) -> bool:
    return word[:1].isupper() or word[:1].isdigit()


def is_byline(sentence: str) -> bool:
    """A byline ("By Economics Desk, 02 May 2024") or dateline ("Harbourton, 21 June 2024.",
    "posted on April 21, 2015, at 11:29 a.m."): names, places and dates with no prose around them."""
    text = sentence.strip()
    start = _BYLINE_START.match(text)
    if start:
        rest = _DATE.sub(" ", _TIME.sub(" ", text[start.end() :]))
        words = _TOKEN.findall(rest)
        if (
            words
            and len(words) <= _MAX_BYLINE_WORDS
            and all(_capitalized(w) or w.lower().strip(".") in _NAME_PARTICLES | _DATELINE_WORDS for w in words)
        ):
            return True
    if not _DATE.search(text):  # a time alone ("9 p.m. ET, Sunday, HBO") is a listing, not a dateline
        return False
    rest = _WEEKDAY.sub(" ", _DATE.sub(" ", _TIME.sub(" ", text)))
    words = [w for w in _TOKEN.findall(rest) if w.lower().rstrip(".") not in _DATELINE_WORDS]
    # What is left besides the date is at most a place or a name: a few capitalized words ("Harbourton").
    return len(words) <= 4 and all(_capitalized(w) for w in words)


# --- affiliations, postal addresses, e-mail lines ---------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+\-{},]+@[\w\-]+(?:\.[\w\-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_INSTITUTION = re.compile(
    r"\b(?:universit(?:y|ies|ät|é|à|ad|eit|at)|institut(?:e|o|)|department|dept\.|laborator(?:y|ies|ium)|college|"
    r"faculty|school\s+of|academy|research\s+cent(?:er|re)|cent(?:er|re)\s+for|corporation|corp\.|inc\.|gmbh)(?!\w)",
    re.IGNORECASE,
)
# A street, building or floor with its number ("715, Broadway", "7th Floor", "12 Market Street", "Suite 400").
_STREET = re.compile(
    r"\b\d+[a-z]?(?:st|nd|rd|th)?,?\s+(?:[A-Z][\w.']*\s+){0,3}(?:street|st\.|avenue|ave\.?|road|rd\.|boulevard|"
    r"blvd\.?|lane|drive|broadway|floor|fl\.|building|bldg\.?|square|place|plaza)(?!\w)"
    r"|\b(?:suite|room|p\.?\s?o\.?\s+box|postfach)\s+\d+",
    re.IGNORECASE,
)
# A postal code where addresses put it: "NY 10003", "NY, 10003-1234", "CA 94305", "D-80333", "SW1A 1AA", "M5V 3L9".
_POSTAL = re.compile(
    r"\b[A-Z]{2},?\s+\d{5}(?:-\d{4})?\b|\b[A-Z]-\d{4,5}\b|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b|\b[A-Z]\d[A-Z]\s\d[A-Z]\d\b"
)
_ADDRESS_PARTICLES = _NAME_PARTICLES | {
    "und",
    "für",
    "des",
    "y",
    "e",
    "et",
    "du",
    "delle",
    "della",
    "degli",
    "do",
    "dos",
}
_MAX_ADDRESS_WORDS = 30
_WORD = re.compile(r"(?<![\w'’.\-])[^\W\d_][\w'’.\-]*")  # a word that starts with a letter (not "th" of "7th")


def is_address(sentence: str) -> bool:
    """An affiliation, postal address or e-mail line: an institution, a street, a postal code or an e-mail address,
    and otherwise only capitalized names, places and numbers (prose has lowercase words: "She studied at New York
    University for four years.")."""
    text = sentence.strip()
    if text.endswith(("!", "?")):
        return False
    email = _EMAIL.search(text)
    if not (email or _INSTITUTION.search(text) or _STREET.search(text) or _POSTAL.search(text)):
        return False
    words = _WORD.findall(_URL.sub(" ", _EMAIL.sub(" ", text)))
    if len(words) > _MAX_ADDRESS_WORDS or (not words and not email):
        return False
    return all(_capitalized(w) or w.lower().rstrip(".") in _ADDRESS_PARTICLES for w in words)


# --- banners, titles and headings at a page's edge (PDF) ------------------------------------------------------
_FINAL = re.compile(r"""[.!?,;:…。！？"'”’»]$""")
_TITLE_SMALL_WORDS = _ADDRESS_PARTICLES | {"a", "an", "or", "to", "on", "with", "via", "vs", "as", "into", "from"}
_MAX_BANNER_WORDS = 16
_HYPHEN_END = re.compile(r"[^\W\d_]-$")
_EDGE = 2  # sentences at a page's top and bottom that may be a banner


def is_title_like(sentence: str) -> bool:
    """A short line in title case or capitals with no final punctuation: a title, banner or heading, not prose
    ("Official - Subject to Final Review", "IN THE SUPREME COURT OF THE UNITED STATES")."""
    text = sentence.strip()
    if not text or _FINAL.search(text):
        return False
    words = [w for w in _TOKEN.findall(text) if w.lower() not in _TITLE_SMALL_WORDS]
    if len(words) < 2 or count_words(text) > _MAX_BANNER_WORDS:
        return False
    return sum(_capitalized(w) for w in words) >= max(len(words) - 1, 0.75 * len(words))


def page_edges(pages: Sequence[int | None]) -> set[int]:
    """Indices of the first and last `_EDGE` sentences of each page."""
    by_page: dict[int, list[int]] = defaultdict(list)
    for i, page in enumerate(pages):
        if page is not None:
            by_page[page].append(i)
    return {i for members in by_page.values() for i in members[:_EDGE] + members[-_EDGE:]}


def cut_at_line_end(sentence: str) -> bool:
    """No final punctuation, and it stops after a comma or a lowercase word: the rest went on after a line end
    that a figure, a column or a page break separates from it ("... came on for oral")."""
    text = sentence.rstrip()
    if text.endswith(",") or ends_in_word_break(text):
        return True
    if _FINAL.search(text) or text.endswith((")", "]")):
        return False
    last = text.rsplit(None, 1)[-1] if text else ""
    return last.isalpha() and last.islower() and (len(last) > 1 or last == "a")


def ends_in_word_break(sentence: str) -> bool:
    """It ends in a word hyphenated at a line break ("... appearing at the begin-"): cut there in any text, lowercased
    or not, so unlike a lowercase last word this needs no look at the document's casing."""
    return bool(_HYPHEN_END.search(sentence.rstrip()))


_NUMBER = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|pg\.?|seite|pagina|página)?\s*[-–—]?\s*\d+\s*(?:(?:of|/|von|de)\s*\d+)?\s*[-–—]?$", re.IGNORECASE
)


_MAX_HEADER_WORDS = 20


def _furniture_key(sentence: str) -> str:
    """Short lines that differ only in numbers (page numbers, volume and issue) are the same running header;
    longer lines must match exactly (prose that differs only in its figures is not furniture)."""
    text = sentence.casefold()
    if count_words(sentence) <= _MAX_HEADER_WORDS:
        text = _NUMBER.sub("#", text)
    return "".join(ch for ch in text if ch.isalnum() or ch == "#")


def repeated_lines(sentences: Sequence[str], pages: Sequence[int | None]) -> set[int]:
    """Indices of sentences that recur on several pages: running headers, footers and page numbers."""
    if len(sentences) != len(pages):
        raise ValueError(f"{len(sentences)} sentences but {len(pages)} pages")
    n_pages = len({p for p in pages if p is not None})
    if n_pages < 2:
        return set()
    on_pages: dict[str, set[int]] = defaultdict(set)
    for sentence, page in zip(sentences, pages):
        if page is not None:
            on_pages[_furniture_key(sentence)].add(page)
    needed = min(MIN_REPEAT_PAGES, n_pages)
    repeated = set()
    for i, (sentence, page) in enumerate(zip(sentences, pages)):
        if page is None:
            continue
        key = _furniture_key(sentence)
        if (key and len(on_pages[key]) >= needed) or _PAGE_NUMBER.match(sentence.strip()):
            repeated.add(i)
    return repeated


def skip_reason(sentence: str) -> str | None:
    """Why this sentence, on its own, is not a candidate (None: it is one). Page furniture needs the whole
    document: see `skip_reasons`."""
    if is_markup(sentence):
        return MARKUP
    if is_fragment(sentence):
        return FRAGMENT
    if is_byline(sentence):
        return BYLINE
    if is_address(sentence):
        return ADDRESS
    return None


def _starts_lowercase(sentence: str) -> bool:
    """Starts with an all-lowercase word ("is an example of ..."), not "iPhone" or "eBay"."""
    first = sentence.lstrip("\"'“‘([¿¡ ").split(" ", 1)[0]
    return bool(first) and first[0].isalpha() and first[0].islower() and not any(ch.isupper() for ch in first)


def _cased(sentence: str) -> bool:
    first = sentence.lstrip("\"'“‘([¿¡ ")[:1]
    return first.isalpha() and (first.isupper() or first.islower())


def skip_reasons(sentences: Sequence[str], pages: Sequence[int | None] | None = None) -> list[str | None]:
    """Per sentence: why it is not a candidate, or None. `pages` (1-based, None where unknown) finds the
    lines that repeat across pages.

    In a document whose sentences mostly start with a capital, one starting with a lowercase word is a piece
    cut out of a sentence (by a dropped formula, link or page break); lowercased text keeps all its sentences.
    With pages (a PDF), such a document's sentences that stop mid-clause at a line end are fragments too, and
    title-like lines at a page's top or bottom edge are banners.
    """
    repeated = repeated_lines(sentences, pages) if pages is not None else set()
    edges = page_edges(pages) if pages is not None else set()
    cased = [s for s in sentences if _cased(s)]
    capitalized = sum(1 for s in cased if not _starts_lowercase(s))
    drop_lowercase = len(cased) >= 3 and capitalized >= 0.8 * len(cased)
    reasons: list[str | None] = []
    for i, sentence in enumerate(sentences):
        if i in repeated:
            reasons.append(REPEATED)
            continue
        reason = skip_reason(sentence)
        if reason is None and drop_lowercase and _starts_lowercase(sentence):
            reason = FRAGMENT
        if (
            reason is None
            and pages is not None
            and (ends_in_word_break(sentence) or (drop_lowercase and cut_at_line_end(sentence)))
        ):
            reason = FRAGMENT
        if reason is None and i in edges and is_title_like(sentence):
            reason = BANNER
        reasons.append(reason)
    if None not in reasons:  # a document that is only a title, banner or address: that is what it says
        reasons = [None if reason in (ADDRESS, BANNER) else reason for reason in reasons]
    return reasons


def candidate_indices(sentences: Sequence[str], pages: Sequence[int | None] | None = None) -> list[int]:
    """Indices of the sentences a summarizer may pick, in document order."""
    return [i for i, reason in enumerate(skip_reasons(sentences, pages)) if reason is None]
