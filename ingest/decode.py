"""Bytes → str for text formats: BOM, then the document's own declaration (HTML), then UTF-8, then a detector.

Detectors alone produce mojibake on short or mixed pages, so they come last; a declared charset that
does not decode the bytes is ignored rather than trusted.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# <meta charset="x">, <meta http-equiv="Content-Type" content="text/html; charset=x">, <?xml encoding="x"?>
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)|<\?xml[^>]+?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)""",
    re.IGNORECASE,
)
# WHATWG encoding standard: browsers decode these labels as windows-1252, and pages rely on it.
_BROWSER_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}
_DECLARATION_WINDOW = 4096


def strip_bom(data: bytes) -> tuple[bytes, str | None]:
    """The bytes after a byte-order mark, and the encoding the mark names (None without one)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :], encoding
    return data, None


def declared_html_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in its first bytes (meta charset, http-equiv, xml declaration)."""
    match = _DECLARED_CHARSET.search(data[:_DECLARATION_WINDOW])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"  # a meta tag that could be read as ASCII cannot be UTF-16 (WHATWG rule)
    return _BROWSER_ALIASES.get(name, _BROWSER_ALIASES.get(label, name))


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


# UTF-8 with a few broken bytes (a truncated or spliced page) is still UTF-8 when its valid multi-byte characters
# outnumber the broken bytes this many times; a detector would guess a single-byte code page and garble every one.
_UTF8_EVIDENCE = 10


def _mostly_utf8(body: bytes) -> str | None:
    """The text as UTF-8 with U+FFFD for its few invalid bytes, or None when it does not look like UTF-8 at all."""
    text = body.decode("utf-8", errors="replace")
    broken = text.count("\ufffd") - body.count("\ufffd".encode())
    if broken <= 0:
        return None
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F) - text.count("\ufffd")
    return text if multibyte >= _UTF8_EVIDENCE * broken else None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode `data`; returns (text, encoding used). Never raises: the last resort replaces bad bytes."""
    body, bom_encoding = strip_bom(data)
    if bom_encoding:
        return body.decode(bom_encoding, errors="replace"), bom_encoding
    for encoding in (declared, "utf-8"):
        if encoding:
            text = _try_decode(body, encoding)
            if text is not None:
                return text, encoding
    text = _mostly_utf8(body)
    if text is not None:
        return text, "utf-8"
    best = from_bytes(body).best()
    if best is not None:
        return str(best), best.encoding
    return body.decode("cp1252", errors="replace"), "cp1252"


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode an HTML page: BOM, then its declared charset, then UTF-8, then a detector."""
    return decode_bytes(data, declared_html_charset(data))
