"""OCR of PDF pages that have no text layer: PDFium renders the page, Tesseract reads it. Offline by construction.

- Tesseract is the system package (`tesseract-ocr` + `tesseract-ocr-eng` on Debian/Ubuntu; `make install` installs
  it when missing). Its language models ship in those packages: nothing is downloaded at run time.
- pypdfium2's wheel ships the PDFium library; it also renders pages whose structure pdfminer cannot parse
  (PDFium repairs broken cross-reference tables), which is how most broken scans still get read.
- Each page has its own wall-clock limit: Tesseract runs in a subprocess that is killed when it passes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from docsum.errors import FailureClass
from docsum.ingest.errors import ExtractionError
from docsum.ingest.reflow import reflow_text

TESSERACT = "tesseract"


class OcrUnavailable(ExtractionError):
    """The page needs OCR and no OCR engine is installed."""

    def __init__(self, reason: str, failure: FailureClass = FailureClass.unsupported) -> None:
        super().__init__(reason, failure)


@dataclass
class OcrPage:
    number: int  # 1-based
    text: str
    seconds: float


def tesseract_path() -> str | None:
    return shutil.which(os.environ.get("DOCSUM_TESSERACT", TESSERACT))


def ocr_available() -> bool:
    return tesseract_path() is not None


def installed_languages() -> set[str]:
    exe = tesseract_path()
    if exe is None:
        return set()
    out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False).stdout
    return {line.strip() for line in out.splitlines()[1:] if line.strip()}


def render_page(pdf: object, index: int, dpi: int) -> bytes:
    """One page of an open pypdfium2 document as PNG bytes (grayscale, `dpi` dots per inch)."""
    page = pdf[index]  # type: ignore[index]
    try:
        image = page.render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        page.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def ocr_png(png: bytes, languages: str, timeout_s: float) -> str:
    """Tesseract on one page image; raises ExtractionError when it fails or passes `timeout_s`."""
    exe = tesseract_path()
    if exe is None:
        raise OcrUnavailable("OCR needed but Tesseract is not installed (install tesseract-ocr, tesseract-ocr-eng)")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one page, one core: workers run in parallel already
    try:
        done = subprocess.run(
            [exe, "stdin", "stdout", "-l", languages, "--psm", "3"],
            input=png,
            capture_output=True,
            timeout=timeout_s,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as err:
        raise ExtractionError(f"OCR time limit exceeded ({timeout_s:g} s per page)", FailureClass.timeout) from err
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise ExtractionError(f"OCR failed: {detail[0][:200]}", FailureClass.unreadable)
    return reflow_text(done.stdout.decode("utf-8", "replace"))


def open_pdf(data: bytes) -> object:
    """The PDF opened by PDFium (empty password), or ExtractionError saying why it cannot be."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data, password=None)
    except pdfium.PdfiumError as err:
        message = str(err)
        if "password" in message.lower():
            raise ExtractionError("encrypted (password required)", FailureClass.unsupported) from err
        raise ExtractionError(f"not a readable PDF (PDFium: {message})", FailureClass.unreadable) from err


def ocr_pages(
    data: bytes, page_numbers: list[int], languages: str, dpi: int, page_timeout_s: float, deadline_at: float
) -> tuple[dict[int, OcrPage], list[str]]:
    """OCR the given 1-based pages. Returns the pages read and a reason per page that failed; never more time
    than `deadline_at` (time.monotonic()) allows."""
    pdf = open_pdf(data)
    pages: dict[int, OcrPage] = {}
    errors: list[str] = []
    try:
        for number in page_numbers:
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                errors.append(f"page {number}: document time limit reached before OCR")
                continue
            started = time.monotonic()
            try:
                png = render_page(pdf, number - 1, dpi)
                text = ocr_png(png, languages, min(page_timeout_s, remaining))
            except OcrUnavailable:
                raise
            except ExtractionError as err:
                errors.append(f"page {number}: {err.reason}")
                continue
            except Exception as err:  # noqa: BLE001 - PDFium failing on one page must not lose the others
                errors.append(f"page {number}: cannot render ({type(err).__name__}: {err})")
                continue
            pages[number] = OcrPage(number, text, time.monotonic() - started)
    finally:
        pdf.close()  # type: ignore[attr-defined]
    return pages, errors


def page_count(data: bytes) -> int:
    pdf = open_pdf(data)
    try:
        return len(pdf)  # type: ignore[arg-type]
    finally:
        pdf.close()  # type: ignore[attr-defined]
