"""Builders for the files the ingest tests feed in: PDFs (fpdf2), HTML, archives with hostile members."""

from __future__ import annotations

import io
import tarfile
import zipfile
from datetime import UTC, datetime

from fpdf import FPDF
from PIL import Image

ARTICLE = [
    "The regional water authority announced on Monday that reservoir levels had recovered after a wet winter.",
    "Engineers said the main dam was holding 92 percent of its capacity, the highest level in six years.",
    "Restrictions on garden watering, in force since last summer, will be lifted at the end of the month.",
    "Farmers welcomed the news but warned that another dry summer could quickly reverse the gains.",
]


def make_pdf(
    pages: list[list[str]],
    title: str | None = "Reservoirs recover",
    author: str | None = "Desk",
    password: str | None = None,
) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    pdf.set_creation_date(datetime(2024, 1, 15, 10, 30, tzinfo=UTC))
    if password:
        pdf.set_encryption(owner_password="owner-secret", user_password=password)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    return bytes(pdf.output())


def image_only_pdf() -> bytes:
    """A 'scanned' page: one picture and a drawn frame, no text objects at all."""
    picture = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 30, 30)).save(picture, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 60)
    pdf.image(io.BytesIO(picture.getvalue()), x=20, y=20, w=60)
    return bytes(pdf.output())


def html_page(paragraphs: list[str], title: str = "Reservoirs recover", charset: str = "utf-8") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    page = (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head><body>'
        '<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>'
        '<div class="advert">Buy two mattresses and get the third one free this weekend only!</div>'
        f"<article><h1>{title}</h1>{body}</article>"
        '<div id="comments" class="comments"><p>First comment: what a lovely surprise for everyone here.</p></div>'
        "<footer>Copyright Example News</footer></body></html>"
    )
    return page.encode(charset)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def zip_with_symlink(target: str, name: str = "link.txt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o120777 << 16  # S_IFLNK: the data is the link target
        archive.writestr(info, target)
        archive.writestr("ok.txt", "A regular member. It has two sentences.")
    return buffer.getvalue()


def tar_bytes(
    members: dict[str, bytes], links: dict[str, str] | None = None, devices: list[str] | None = None, mode: str = "w:gz"
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
        for name in devices or []:
            info = tarfile.TarInfo(name)
            info.type = tarfile.CHRTYPE
            info.devmajor, info.devminor = 1, 3
            archive.addfile(info)
    return buffer.getvalue()
