"""Input paths → documents as bytes: files, directories (recursive, sorted), zip and tar archives.

Archive members are read into memory, never extracted to disk, each under the limits of `Settings`
(members, total expanded bytes, expansion ratio, file size). A member that breaks a rule, or a file that
cannot be read, comes out as a `Source` with `error` set and no bytes, so it is recorded and the rest goes on.

Zip and tar follow one rule: members count as they are met (zip in name order, tar in stream order); the first
`max_archive_members` are read; an archive-wide limit (member count, total expanded bytes, a tar's ratio) stops
reading at once, with one failed row for the archive that says so. An archive is itself a file under
`max_file_bytes`, and an archive without a single member is a failed row, never nothing.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from docsum.config import Settings
from docsum.errors import FailureClass
from docsum.ingest.sniff import COMPRESSED, HEAD_BYTES, TAR, ZIP, is_archive, sniff_media_type
from docsum.ingest.walk import walk

_CHUNK = 1 << 16
# Below this expanded size a member's compression ratio says nothing (a page of spaces compresses 1000:1).
RATIO_FLOOR_BYTES = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_DECOMPRESSORS = {"application/gzip": gzip.open, "application/x-bzip2": bz2.open, "application/x-xz": lzma.open}


@dataclass
class Source:
    """One document to store: its bytes, or the reason they could not be read."""

    uri: str
    data: bytes | None = None
    error: str | None = None
    failure: FailureClass | None = None  # with `error`: its class, stored beside it
    byte_size: int | None = None
    store: bool = True  # False for a path that does not exist: reported, not recorded as a document
    # The bytes could not be read (permissions, an I/O error): that may pass, so the file is not remembered as seen.
    read_error: bool = False

    def __post_init__(self) -> None:
        if (self.error is None) != (self.failure is None):
            raise ValueError(f"{self.uri!r}: a source that failed needs both a reason and its class")

    @property
    def name(self) -> str:
        """The file name (an archive member's own name), for extension hints."""
        return self.uri.rsplit("!", 1)[-1]


class _TooLarge(Exception):
    pass


def _read_limited(stream: IO[bytes], limit: int) -> bytes:
    """Read a stream to its end, raising _TooLarge past `limit` bytes (never holds more than limit + one chunk)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name must not be used as a path (absolute, drive letter, '..', NUL), or None."""
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        return f"unsafe member path {name!r} (NUL byte)"
    if normalized.startswith("/") or _DRIVE.match(normalized):
        return f"unsafe member path {name!r} (absolute)"
    if ".." in PurePosixPath(normalized).parts:
        return f"unsafe member path {name!r} (parent directory '..')"
    return None


def _oversized(size: int, settings: Settings) -> str:
    return f"oversized: {size} bytes (limit {settings.max_file_bytes})"


@dataclass
class _Limit:
    bytes: int
    reason: str
    archive_wide: bool  # once hit, the rest of the archive fails with the same reason


class _ArchiveBudget:
    """The limits shared by all members of one archive."""

    def __init__(self, settings: Settings, compressed_size: int) -> None:
        self.settings = settings
        self.compressed_size = compressed_size
        self.expanded = 0
        self.members = 0
        self.exhausted: str | None = None  # once set, every further member fails with this reason

    def count_member(self) -> str | None:
        self.members += 1
        if self.members > self.settings.max_archive_members:
            return f"archive has more than {self.settings.max_archive_members} members (max_archive_members)"
        return None

    def stopped(self, reason: str) -> str:
        """The archive's own row once an archive-wide limit stopped reading."""
        return f"{reason}: reading stopped after {self.members} members, the rest of the archive was not read"

    def member_limit(self, member_compressed: int | None) -> _Limit:
        """The most bytes the next member may expand to, and the reason to give when it does.

        Zip members carry their compressed size, so the ratio is per member; tar streams only have the
        archive's, so the ratio holds for the expanded total.
        """
        s = self.settings
        limits = [
            _Limit(s.max_file_bytes, f"oversized: more than {s.max_file_bytes} bytes expanded", False),
            _Limit(
                s.max_archive_bytes - self.expanded,
                f"archive expands beyond {s.max_archive_bytes} bytes in total (max_archive_bytes)",
                True,
            ),
        ]
        ratio_reason = f"compression ratio above {s.max_archive_ratio:g} (max_archive_ratio; zip bomb?)"
        if member_compressed is not None:
            ratio_bytes = max(int(s.max_archive_ratio * max(member_compressed, 1)), RATIO_FLOOR_BYTES)
            limits.append(_Limit(ratio_bytes, ratio_reason, False))
        else:
            ratio_bytes = max(int(s.max_archive_ratio * self.compressed_size), RATIO_FLOOR_BYTES) - self.expanded
            limits.append(_Limit(ratio_bytes, ratio_reason, True))
        return min(limits, key=lambda limit: limit.bytes)

    def read(self, open_member: Callable[[], IO[bytes] | None], declared_size: int, compressed: int | None) -> bytes:
        """Read one member within the limits (the declared size is checked first, and again while reading,
        since headers can lie); raises _LimitHit."""
        limit = self.member_limit(compressed)
        try:
            if declared_size > limit.bytes:
                raise _TooLarge
            stream = open_member()
            if stream is None:
                return b""
            with stream:
                data = _read_limited(stream, limit.bytes)
        except _TooLarge:
            if limit.archive_wide:
                self.exhausted = limit.reason
            # A tar stream still inflates a refused member to get past it: its bytes count toward the archive's.
            self.expanded += max(declared_size, 0)
            raise _LimitHit(limit.reason) from None
        self.expanded += len(data)
        return data


class _LimitHit(Exception):
    pass


def _zip_member_reason(info: zipfile.ZipInfo) -> str | None:
    reason = unsafe_member_reason(info.filename)
    if reason:
        return reason
    mode = info.external_attr >> 16  # Unix mode bits, when the archiver wrote them
    if stat.S_ISLNK(mode):
        return "symlink member not ingested"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "device or special file member not ingested"
    if info.flag_bits & 0x1:
        return "encrypted archive member (password required)"
    return None


def _zip_sources(path: Path, uri: str, settings: Settings) -> Iterator[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        yield Source(uri, error=f"corrupt archive (zip): {err}", failure=FailureClass.unreadable)
        return
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if not infos:
            yield Source(uri, error="empty archive (zip): no files in it", failure=FailureClass.no_text)
            return
        budget = _ArchiveBudget(settings, path.stat().st_size)
        for info in sorted(infos, key=lambda i: i.filename):
            if budget.exhausted:
                yield Source(uri, error=budget.stopped(budget.exhausted), failure=FailureClass.too_large)
                return
            too_many = budget.count_member()
            if too_many:
                budget.members -= 1
                yield Source(uri, error=budget.stopped(too_many), failure=FailureClass.too_large)
                return
            member_uri = f"{uri}!{info.filename}"
            reason = _zip_member_reason(info)
            if reason:
                yield Source(member_uri, error=reason, failure=FailureClass.unsupported, byte_size=info.file_size)
                continue
            try:
                data = budget.read(lambda: archive.open(info), info.file_size, info.compress_size)
            except _LimitHit as hit:
                yield Source(member_uri, error=str(hit), failure=FailureClass.too_large, byte_size=info.file_size)
                continue
            except (
                zipfile.BadZipFile,
                NotImplementedError,
                RuntimeError,
                OSError,
                EOFError,
                ValueError,
                zlib.error,
            ) as err:
                yield Source(
                    member_uri,
                    error=f"corrupt archive member: {err}",
                    failure=FailureClass.unreadable,
                    byte_size=info.file_size,
                )
                continue
            yield Source(member_uri, data=data, byte_size=len(data))


def _display_name(name: str) -> str:
    """'./a/b.txt' (as tar writes it) → 'a/b.txt'."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _tar_member_reason(member: tarfile.TarInfo) -> str | None:
    reason = unsafe_member_reason(member.name)
    if reason:
        return reason
    if member.issym() or member.islnk():
        return f"link member not ingested (-> {member.linkname!r})"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return "device or special file member not ingested"
    return None


def _tar_sources(path: Path, uri: str, settings: Settings, media_type: str) -> Iterator[Source]:
    """Stream a (possibly compressed) tar in one pass; a compressed file that is not a tar is one document."""
    budget = _ArchiveBudget(settings, path.stat().st_size)
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isdir():
                    continue
                too_many = budget.count_member()
                if too_many:
                    budget.members -= 1
                    yield Source(uri, error=budget.stopped(too_many), failure=FailureClass.too_large)
                    return
                member_uri = f"{uri}!{_display_name(member.name)}"
                reason = _tar_member_reason(member)
                if reason is None and not member.isreg():
                    reason = f"unsupported tar member type {member.type!r}"
                if reason:
                    yield Source(member_uri, error=reason, failure=FailureClass.unsupported, byte_size=member.size)
                    continue
                try:
                    data = budget.read(lambda: archive.extractfile(member), member.size, None)
                except _LimitHit as hit:
                    yield Source(member_uri, error=str(hit), failure=FailureClass.too_large, byte_size=member.size)
                    if budget.exhausted:  # archive-wide: stop now instead of inflating the rest to skip it
                        yield Source(uri, error=budget.stopped(budget.exhausted), failure=FailureClass.too_large)
                        return
                    continue
                yield Source(member_uri, data=data, byte_size=len(data))
    except (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as err:
        if budget.members == 0 and media_type in COMPRESSED:
            yield from _compressed_file_source(path, uri, settings, media_type)
            return
        yield Source(
            uri,
            error=f"corrupt or truncated archive (after {budget.members} members): {err}",
            failure=FailureClass.unreadable,
        )
        return
    if budget.members == 0:
        if media_type in COMPRESSED:  # not a tar after all (a gzip of NUL blocks reads as an empty tar): one file
            yield from _compressed_file_source(path, uri, settings, media_type)
        else:
            yield Source(uri, error="empty archive (tar): no files in it", failure=FailureClass.no_text)


def _compressed_file_source(path: Path, uri: str, settings: Settings, media_type: str) -> Iterator[Source]:
    """A single gzip/bz2/xz-compressed document ('page.html.gz'), named after the file without its suffix."""
    inner = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
    member_uri = f"{uri}!{inner}"
    budget = _ArchiveBudget(settings, path.stat().st_size)
    try:
        data = budget.read(lambda: _DECOMPRESSORS[media_type](path, "rb"), 0, budget.compressed_size)
    except _LimitHit as hit:
        yield Source(member_uri, error=str(hit), failure=FailureClass.too_large)
        return
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as err:
        yield Source(uri, error=f"corrupt compressed file ({media_type}): {err}", failure=FailureClass.unreadable)
        return
    yield Source(member_uri, data=data, byte_size=len(data))


def file_sources(path: Path, settings: Settings) -> Iterator[Source]:
    """The documents of one file: itself, or the members of an archive (sniffed by content, not name)."""
    uri = str(path.absolute())
    try:
        st = path.stat()
    except FileNotFoundError:
        yield Source(uri, error="not found: no such file or directory", failure=FailureClass.unreadable, store=False)
        return
    except OSError as err:
        yield Source(uri, error=f"unreadable: {err.strerror or err}", failure=FailureClass.unreadable, read_error=True)
        return
    if not stat.S_ISREG(st.st_mode):
        yield Source(uri, error="not a regular file (device, socket or pipe)", failure=FailureClass.unsupported)
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
            media_type = sniff_media_type(head, path.name)
            if st.st_size > settings.max_file_bytes:  # decided from stat: the file is never read whole
                yield Source(
                    uri, error=_oversized(st.st_size, settings), failure=FailureClass.too_large, byte_size=st.st_size
                )
                return
            if is_archive(media_type):
                data = None
            else:
                data = head + _read_limited(handle, settings.max_file_bytes - len(head))
    except _TooLarge:  # grew while we read it
        yield Source(uri, error=_oversized(st.st_size, settings), failure=FailureClass.too_large, byte_size=st.st_size)
        return
    except OSError as err:
        yield Source(
            uri,
            error=f"unreadable: {err.strerror or err}",
            failure=FailureClass.unreadable,
            byte_size=st.st_size,
            read_error=True,
        )
        return
    if data is not None:
        yield Source(uri, data=data, byte_size=len(data))
    elif media_type == ZIP:
        yield from _zip_sources(path, uri, settings)
    elif media_type == TAR or media_type in COMPRESSED:
        yield from _tar_sources(path, uri, settings, media_type)


def expand_paths(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files to ingest, in order: each given path, directories walked recursively in sorted order.

    Hidden entries (".name") inside directories are skipped; a path given explicitly is always kept,
    and a path that does not exist is kept so that it is reported. Entries the walk does not read (links out of the
    walked directory, loops, dangling links, FIFOs, sockets, devices) are left out (see `walk_paths` for them and
    their reason).
    """
    return walk_paths(paths)[0]


def walk_paths(
    paths: list[str | os.PathLike[str]],
) -> tuple[list[Path], list[tuple[Path, str, FailureClass]]]:
    """(files to ingest, [(skipped path, reason, its class)]): the one walker's verdicts (`ingest.walk`), split in
    two."""
    files: list[Path] = []
    skipped: list[tuple[Path, str, FailureClass]] = []
    for found in walk(paths):
        if found.skip is None or found.failure is None:
            files.append(found.path)
        else:
            skipped.append((found.path, found.skip, found.failure))
    return files, skipped
