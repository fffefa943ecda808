"""Generators of crafted bad inputs, shared by the tests and bench/bad_inputs.py: everything is built at run time
(small on disk where it can be: a bomb is a small file that expands), nothing of it is kept in the repository."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

MIB = 1024 * 1024


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF from numbered object bodies (object i+1 = objects[i]) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def zlib_of_repeated(chunk: bytes, times: int) -> bytes:
    """zlib data of `chunk` repeated `times` times, built in milliseconds: after a full flush the compressor forgets
    what it saw, so every chunk compresses to the same block; the checksum is computed over the whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: we write the zlib header and trailer
    compressor.compress(chunk)
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(times):
        checksum = zlib.adler32(chunk, checksum)
    return b"\x78\xda" + block * times + b"\x03\x00" + checksum.to_bytes(4, "big")


def flate_bomb_pdf(expanded_mib: int) -> bytes:
    """A one-page PDF whose content stream inflates to `expanded_mib` MiB of spaces (about 1000:1)."""
    stream = zlib_of_repeated(b" " * MIB, expanded_mib)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        ]
    )


def huge_html(n_bytes: int) -> bytes:
    """A page of many short paragraphs in nested blocks: trafilatura's cost grows quadratically with its size."""
    block = b"<div class='c'><p>Words of a paragraph that goes on. Another sentence here.</p></div>\n"
    body = block * (max(n_bytes - 200, len(block)) // len(block))
    return b"<!DOCTYPE html><html><head><title>Huge</title></head><body><article>" + body + b"</article></body></html>"


def stalling_html() -> bytes:
    """A page extraction takes many seconds over (15 s here): one 3 MB line of inline markup. (`huge_html`'s many
    short blocks now take the linear path, so they no longer stall.)"""
    return single_line_html(3_000_000)


def single_line_html(n_bytes: int) -> bytes:
    """One enormous line of inline markup, no newline anywhere."""
    unit = b"<span>word</span> "
    return b"<html><head><title>Line</title></head><body><p>" + unit * (n_bytes // len(unit)) + b"</p></body></html>"


def utf8_page_with_one_bad_byte() -> bytes:
    text = "Zürich café: the naïve façade. " * 40
    data = ("<html><head><title>Café</title></head><body><article><p>" + text + "</p></article></body></html>").encode()
    middle = len(data) // 2
    return data[:middle] + b"\xff" + data[middle:]


def zip_of(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_of(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zero_tar_gz(expanded_mib: int) -> bytes:
    """A gzip of NUL bytes: a tar reader sees end-of-archive blocks and no member."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = b"\0" * MIB
    return b"".join(compressor.compress(chunk) for _ in range(expanded_mib)) + compressor.flush()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def symlink(link: Path, target: str | os.PathLike[str]) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link
