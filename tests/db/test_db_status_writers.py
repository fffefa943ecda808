"""The contract "nothing but db/status.py writes a status column", checked over the source tree."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {REPO_ROOT / "db" / "status.py", Path(__file__).resolve()}
SKIP_DIRS = {"var", "build", "dist", "node_modules", "__pycache__"}

# Ways Python code in this repo could write a status column.
STATUS_WRITES = [
    re.compile(r"\.status\s*=(?!=)"),  # obj.status = ...
    re.compile(r"""setattr\([^,]+,\s*["']status["']"""),  # setattr(obj, "status", ...)
    re.compile(r"\.values\([^)]*\bstatus\s*="),  # update(Job).values(status=...)
    re.compile(r"\bSET\s+status\s*=", re.IGNORECASE),  # raw SQL
]


def _python_files() -> list[Path]:
    files = []
    for path in REPO_ROOT.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).parts[:-1]
        if any(p.startswith(".") or p in SKIP_DIRS or p.endswith(".egg-info") for p in parts):
            continue
        files.append(path)
    return files


def _writes(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if any(p.search(line) for p in STATUS_WRITES)]


def test_patterns_catch_status_writes() -> None:
    assert _writes((REPO_ROOT / "db" / "status.py").read_text())  # the one writer is seen
    for line in [
        'job.status = "failed"',
        "setattr(job, 'status', x)",
        "update(Job).values(status=x)",
        "UPDATE jobs SET status = 'x'",
    ]:
        assert _writes(line), line
    for line in ["if job.status == JobStatus.failed:", "Job(status=JobStatus.queued)", "x.status_code = 3"]:
        assert not _writes(line), line


def test_nothing_else_writes_status_columns() -> None:
    files = _python_files()
    assert REPO_ROOT / "db" / "models.py" in files  # the walk sees the source tree
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {line}"
        for path in files
        if path.resolve() not in ALLOWED
        for line in _writes(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == [], "status columns are written only by db/status.py:\n" + "\n".join(offenders)
