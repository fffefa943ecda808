"""The one directory walker: what `docsum run`, `docsum ingest` and the nightly scan find under the paths they get.

Directories are walked in sorted order, hidden entries (".name") left out, directory links never followed. One rule
for symbolic links: a link found inside a walked directory is followed only when its target lies inside that
directory. Every entry that is not read comes out as a skipped `Found` with its reason (a link out of the root, a
link loop, a dangling link, a link to a directory, a FIFO, a socket, a device, a directory that cannot be listed):
never an exception, never silently. Nothing is opened here, so a FIFO cannot block the walk.

A path given explicitly is always kept: a file (or a link the user named) is read whatever its target, and a path
that does not exist comes out unskipped so that the reader reports it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from docsum.errors import FailureClass

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass(frozen=True)
class Found:
    """One entry: a regular file to read (with its size and mtime), or a skipped entry with the reason."""

    path: Path
    size: int | None = None
    mtime_ns: int | None = None
    skip: str | None = None
    failure: FailureClass | None = None  # with `skip`: its class
    unlisted: bool = False  # a directory that could not be listed: what was under it is not known to be gone

    def __post_init__(self) -> None:
        if (self.skip is None) != (self.failure is None):
            raise ValueError(f"{self.path}: a skipped entry needs both a reason and its class")


def walk(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Found]:
    """Every file under `paths` (files given as they are, directories walked), in order, and every skipped entry."""
    for raw in paths:
        path = Path(raw)
        if _is_directory(path):
            yield from _walk_directory(path, path.resolve())
        else:
            yield _given(path)


def _is_directory(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def _given(path: Path) -> Found:
    try:
        st = path.stat()
    except FileNotFoundError:
        try:
            target = os.readlink(path)
        except (OSError, ValueError):
            return Found(path)  # missing: the reader reports it as not found
        return Found(path, skip=f"dangling symbolic link (-> {target})", failure=FailureClass.unreadable)
    except OSError as err:
        return Found(path, skip=_stat_error(path, err), failure=FailureClass.unreadable)
    except ValueError as err:  # an embedded NUL byte
        return Found(path, skip=f"unreadable: {err}", failure=FailureClass.unreadable)
    return _by_kind(path, st)


def _walk_directory(top: Path, root: Path) -> Iterator[Found]:
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            yield Found(
                directory,
                skip=f"directory not readable: {err.strerror or err}",
                unlisted=True,
                failure=FailureClass.unreadable,
            )
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    yield _link(path, top, root)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(path)
                else:
                    yield _by_kind(path, entry.stat(follow_symlinks=False))
            except OSError as err:
                yield Found(path, skip=f"unreadable: {err.strerror or err}", failure=FailureClass.unreadable)
        stack.extend(reversed(subdirs))


def _link(path: Path, top: Path, root: Path) -> Found:
    """A symbolic link met inside a walked directory: followed only to a file inside the root."""
    target = os.readlink(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return Found(path, skip=f"dangling symbolic link (-> {target})", failure=FailureClass.unreadable)
    except OSError as err:
        return Found(path, skip=_stat_error(path, err), failure=FailureClass.unreadable)
    if not Path(os.path.realpath(path)).is_relative_to(root):
        return Found(
            path, skip=f"symbolic link out of {top} not followed (-> {target})", failure=FailureClass.unsupported
        )
    if stat.S_ISDIR(st.st_mode):
        return Found(
            path, skip=f"symbolic link to a directory not followed (-> {target})", failure=FailureClass.unsupported
        )
    return _by_kind(path, st)


def _stat_error(path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        try:
            return f"symbolic link loop (-> {os.readlink(path)})"
        except OSError:
            return "symbolic link loop"
    return f"unreadable: {err.strerror or err}"


def _by_kind(path: Path, st: os.stat_result) -> Found:
    if stat.S_ISREG(st.st_mode):
        return Found(path, st.st_size, st.st_mtime_ns)
    for test, kind in _KINDS:
        if test(st.st_mode):
            return Found(path, skip=f"not a regular file: {kind}", failure=FailureClass.unsupported)
    return Found(path, skip="not a regular file", failure=FailureClass.unsupported)
