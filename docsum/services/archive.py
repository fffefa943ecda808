"""What the ingest side knows of files on disk: their last seen size and mtime (`archive_files`).

The nightly run compares a walk of its roots with these rows: a file whose size and mtime are unchanged is skipped
unread; new and changed files go to the ingest queue; rows under a root whose file is gone are marked deleted. Ingest
records a file's stat as it reads it, so a file changed while it was read is seen as changed by the next run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from docsum.db.bulk import upsert_files
from docsum.db.models import ArchiveFile, utcnow
from docsum.errors import FailureClass
from docsum.ingest.walk import Found
from docsum.ingest.walk import walk as walk_entries

# Rows per statement when reading or writing many files (well under every database's parameter limit).
BULK = 5_000


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int


def stat_file(path: str | os.PathLike[str]) -> FileStat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStat(str(path), st.st_size, st.st_mtime_ns)


def walk(root: str | os.PathLike[str]) -> Iterator[FileStat | Found]:
    """Every file under `root` with its stat, found by ingest's one walker (`ingest.walk`: hidden entries left out,
    directory links not followed, links out of the root refused); an entry it did not read comes as its `Found`."""
    for found in walk_entries([root]):
        if found.skip is None and found.size is not None and found.mtime_ns is not None:
            yield FileStat(str(found.path), found.size, found.mtime_ns)
        elif found.skip is not None:
            yield found


def record_files(session: Session, stats: Sequence[FileStat]) -> None:
    """Remember these files as just seen (insert new paths, update known ones, undelete returned ones); safe when
    other transactions record the same paths at the same time."""
    now = utcnow()
    latest = {s.path: s for s in stats}  # one row per path: a statement may not touch a row twice
    rows = [
        {"path": p, "size": s.size, "mtime_ns": s.mtime_ns, "seen_at": now, "deleted_at": None}
        for p, s in sorted(latest.items())  # one lock order for every writer (PostgreSQL row locks)
    ]
    for start in range(0, len(rows), BULK):
        upsert_files(session, rows[start : start + BULK])


@dataclass
class Scan:
    """One walk of archive roots against what ingest last saw."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # directories that could not be listed
    # (path, reason, its class): links refused, loops, FIFOs, ...
    not_read: list[tuple[str, str, FailureClass]] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return len(self.new) + len(self.changed) + self.unchanged

    def counts(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "skipped": self.unchanged,
            "new": len(self.new),
            "changed": len(self.changed),
            "deleted": len(self.deleted),
            "unreadable": len(self.unreadable) + len(self.not_read),
        }


def under(column: ColumnElement[str], root: str) -> ColumnElement[bool]:
    """`column` is a path below the directory `root` (LIKE with the prefix escaped, so that a root named "a_b" does
    not match "axb/...")."""
    prefix = str(root).rstrip(os.sep) + os.sep
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


def scan(session: Session, roots: Sequence[str]) -> Scan:
    """Walk the roots; compare each file with its row; mark rows of vanished files deleted (in this session)."""
    result = Scan()
    for root in roots:
        root = str(Path(root).resolve())
        known = {
            path: (size, mtime)
            for path, size, mtime in session.execute(
                select(ArchiveFile.path, ArchiveFile.size, ArchiveFile.mtime_ns).where(
                    under(ArchiveFile.path, root), ArchiveFile.deleted_at.is_(None)
                )
            )
        }
        for item in walk(root):
            if isinstance(item, Found):
                if item.unlisted:
                    result.unreadable.append(str(item.path))
                else:
                    result.not_read.append(
                        (str(item.path), item.skip or "not read", item.failure or FailureClass.unsupported)
                    )
                continue
            before = known.pop(item.path, None)
            if before is None:
                result.new.append(item.path)
            elif before != (item.size, item.mtime_ns):
                result.changed.append(item.path)
            else:
                result.unchanged += 1
        # A file under a directory that could not be read this time is not known to be gone.
        blind = tuple(u.rstrip(os.sep) + os.sep for u in result.unreadable)
        # An entry seen but not read (a file turned into a dangling link, say) is not gone either.
        present = set(result.unreadable) | {entry[0] for entry in result.not_read}
        gone = sorted(p for p in known if p not in present and not p.startswith(blind or ("\0",)))
        now = utcnow()
        for start in range(0, len(gone), BULK):
            session.execute(
                update(ArchiveFile).where(ArchiveFile.path.in_(gone[start : start + BULK])).values(deleted_at=now)
            )
        result.deleted.extend(gone)
    return result
