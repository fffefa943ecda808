"""Headless Chromium for tests: the DOM a page ends up with, and a screenshot. Installed by `make test`'s services
step (scripts/ensure_services.sh), never by a test; missing, the tests that need it skip with the reason (fail under
CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# No sandbox: tests may run as root in a container, where Chromium's sandbox cannot start. Only local files load.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "needs headless Chromium (apt-get install chromium; `make test` installs it where it can)"
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def dump_dom(page: Path) -> str:
    out = subprocess.run(
        [chromium(), *FLAGS, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "<html" in out.stdout, out.stderr[-2000:]
    return out.stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1500) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and png.is_file(), out.stderr[-2000:]
    return png
