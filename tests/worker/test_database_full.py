"""A database that fills up during a run: the run stops within seconds with what to check, instead of retrying for
half an hour while its client waits forever. SQLite's own page limit (`PRAGMA max_page_count`) makes a real "database
or disk is full" on the worker's connections, as a full disk does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from docsum.client import Client
from docsum.config import Settings
from docsum.db.session import dispose_engine, make_engine
from docsum.errors import DatabaseUnwritable
from docsum.outages import EXIT_DATABASE, describe

SENTENCE = "The committee reviewed the annual maintenance report for the northern district in detail. "


def _cap_pages(url: str, spare_pages: int) -> None:
    """Every new connection of this process to `url` may grow the file by at most `spare_pages` pages."""
    engine = make_engine(url)
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
    dispose_engine(url)
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _limit(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")  # type: ignore[attr-defined]


def test_a_full_database_stops_the_run_with_its_reason(sqlite_url: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(8):
        (inputs / f"report-{i}.txt").write_text(SENTENCE * 3000)  # 270 KB each: far beyond the spare pages
    with Client(Settings(database_url=sqlite_url, device="cpu")) as client:
        _cap_pages(sqlite_url, spare_pages=40)
        batch = client.submit([inputs])
        started = time.monotonic()
        with pytest.raises(DatabaseUnwritable) as error:
            client.wait(batch, timeout=120)
        waited = time.monotonic() - started
    assert "the database cannot write: database or disk is full (is its disk full?)" in str(error.value)
    assert waited < 60, f"stopped only after {waited:.0f} s"  # no retries with backoff before stopping
    assert describe(error.value) == (EXIT_DATABASE, str(error.value))  # the CLI's one line, exit 3
