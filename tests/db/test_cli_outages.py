"""Outages and bad settings through the real `docsum` command: one `error:` line with what to do, a distinct exit code
(2 input, 3 database, 4 broker, 5 setting), no traceback, no password; a submit that cannot reach the broker leaves
its batch cancelled, not running forever; reading commands never create a database."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCSUM = str(REPO_ROOT / ".venv" / "bin" / "docsum")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def docsum(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    base.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DOCSUM_DEVICE="cpu")
    return subprocess.run([DOCSUM, *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("command", [["status", "1"], ["results", "1"], ["run", "story.txt"]])
def test_dead_postgresql_is_one_line_exit_3(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text("The mayor opened the library. It has ten thousand books.")
    url = f"postgresql+psycopg://postgres:hunter2-secret@127.0.0.1:{closed_port()}/docsum"
    result = docsum(command, tmp_path, DOCSUM_DATABASE_URL=url)
    assert result.returncode == 3
    line = one_error_line(result)
    assert line.startswith("error: cannot reach the database:") and "DOCSUM_DATABASE_URL" in line
    assert "hunter2-secret" not in result.stdout + result.stderr


def test_status_on_an_empty_database_does_not_create_it(tmp_path: Path) -> None:
    db = tmp_path / "docsum.db"
    result = docsum(["status", "1"], tmp_path, DOCSUM_DATABASE_URL=f"sqlite:///{db}")
    assert result.returncode == 3
    assert one_error_line(result).startswith("error: no docsum database at sqlite:///")
    assert not db.exists()


def test_dead_redis_at_submit_cancels_the_batch_exit_4(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'docsum.db'}"
    assert docsum(["db", "upgrade"], tmp_path, DOCSUM_DATABASE_URL=url).returncode == 0
    (tmp_path / "story.txt").write_text("The mayor opened the library. It has ten thousand books.")
    broker = f"redis://:redis-secret@127.0.0.1:{closed_port()}/0"
    result = docsum(["run", "story.txt"], tmp_path, DOCSUM_DATABASE_URL=url, DOCSUM_BROKER_URL=broker)
    assert result.returncode == 4
    line = one_error_line(result)
    assert line.startswith("error: cannot reach the broker:") and "batch 1 was cancelled" in line
    assert "redis-secret" not in result.stdout + result.stderr
    status = docsum(["status", "1"], tmp_path, DOCSUM_DATABASE_URL=url)
    assert status.returncode == 0 and "batch 1 cancelled" in status.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DOCSUM_NIGHTLY_ROOTS": "/archive"}, "error: invalid setting: DOCSUM_NIGHTLY_ROOTS: not valid JSON"),
        ({"DOCSUM_MAX_FILE_BYTES": "lots"}, "error: invalid setting: DOCSUM_MAX_FILE_BYTES: Input should be a valid"),
        (
            {"DOCSUM_NIGHTLY_CRON": "0 2 * *", "DOCSUM_NIGHTLY_ROOTS": '["/archive"]'},
            "error: invalid setting: DOCSUM_NIGHTLY_CRON: must be 5 cron fields",
        ),
        (
            {"DOCSUM_NIGHTLY_CRON": "99 2 * * *", "DOCSUM_NIGHTLY_ROOTS": '["/archive"]'},
            "error: invalid setting: DOCSUM_NIGHTLY_CRON: '99 2 * * *' is not a valid cron expression",
        ),
    ],
)
def test_bad_settings_are_one_line_exit_5(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'docsum.db'}"
    assert docsum(["db", "upgrade"], tmp_path, DOCSUM_DATABASE_URL=url).returncode == 0
    result = docsum(["status", "1"], tmp_path, DOCSUM_DATABASE_URL=url, **env)
    assert result.returncode == 5
    assert one_error_line(result).startswith(expected)


def test_eval_and_train_with_bad_paths_are_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl.gz"
    evaluated = docsum(["eval", "--data", str(missing)], tmp_path)
    assert evaluated.returncode == 2
    assert one_error_line(evaluated) == f"error: no such file or directory: {missing}"
    packed = docsum(["pack", str(tmp_path / "pack"), "--train", str(missing), "--valid", str(missing)], tmp_path)
    assert packed.returncode == 2
    assert one_error_line(packed) == f"error: no such file or directory: {missing}"
    trained = docsum(["train", str(tmp_path / "run"), "--pack", str(tmp_path / "nopack")], tmp_path)
    assert trained.returncode == 2
    assert one_error_line(trained) == (
        f"error: no training pack at {tmp_path / 'nopack'} (missing manifest.json): build one with `docsum pack` first"
    )
    assert not (tmp_path / "run").exists()


def test_a_database_url_that_is_not_one_is_a_bad_setting_exit_5(tmp_path: Path) -> None:
    for url, expected in (
        ("notaurl", "error: invalid setting: DOCSUM_DATABASE_URL: not a database URL"),
        ("postgres://user:hunter2-secret@db/docsum", "error: invalid setting: DOCSUM_DATABASE_URL: unknown database"),
    ):
        result = docsum(["status", "1"], tmp_path, DOCSUM_DATABASE_URL=url)
        assert result.returncode == 5, result.stderr
        assert one_error_line(result).startswith(expected)
        assert "hunter2-secret" not in result.stdout + result.stderr


def test_a_new_database_with_a_broker_says_to_run_db_upgrade(redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "docsum.db"
    url = f"sqlite:///{db}"
    (tmp_path / "story.txt").write_text("The mayor opened the library. It has ten thousand books.")
    run = docsum(["run", "story.txt"], tmp_path, DOCSUM_DATABASE_URL=url, DOCSUM_BROKER_URL=redis_url)
    assert run.returncode == 3
    line = one_error_line(run)
    assert line.startswith("error: no docsum database at sqlite:///") and "`docsum db upgrade`" in line
    assert "cannot reach" not in line and not db.exists()  # nothing half-created
    status = docsum(["status", "1"], tmp_path, DOCSUM_DATABASE_URL=url, DOCSUM_BROKER_URL=redis_url)
    assert status.returncode == 3
    line = one_error_line(status)
    assert "`docsum db upgrade` creates one" in line and "docsum run" not in line  # run does not, in this mode

    from docsum.client import Client
    from docsum.config import Settings
    from docsum.errors import DatabaseNotSetUp, DocsumError

    client = Client(Settings(database_url=url, broker_url=redis_url))
    with client, pytest.raises(DatabaseNotSetUp, match="docsum db upgrade") as raised:
        client.submit([tmp_path / "story.txt"])
    assert isinstance(raised.value, DocsumError) and not db.exists()

    # Once set up, the same command goes on to the fleet (here: none, so it is stopped after its batch id).
    assert docsum(["db", "upgrade"], tmp_path, DOCSUM_DATABASE_URL=url).returncode == 0
    with Client(Settings(database_url=url, broker_url=redis_url)) as client:
        batch = client.submit([tmp_path / "story.txt"])
        assert client.status(batch).status == "running"
        client.cancel(batch)


def test_model_info_defaults_to_the_configured_model(tmp_path: Path) -> None:
    shipped = docsum(["model", "info"], tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    assert '"model_id": "docsum-minilm-cnndm@' in shipped.stdout
    missing = docsum(["model", "info"], tmp_path, DOCSUM_MODEL=str(tmp_path / "nomodel"))
    assert missing.returncode == 5
    assert one_error_line(missing).startswith(f"error: no model at DOCSUM_MODEL={tmp_path / 'nomodel'}")
    named = docsum(["model", "info", str(tmp_path / "nomodel")], tmp_path)
    assert named.returncode == 2 and one_error_line(named).startswith("error: no model at")


def test_python_dash_m_docsum_is_the_command_line(tmp_path: Path) -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "docsum", "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.startswith("docsum "), result.stderr
    usage = subprocess.run([sys.executable, "-m", "docsum", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert usage.returncode == 0 and "Usage: docsum" in usage.stdout


def test_model_not_found_is_a_docsum_error() -> None:
    import docsum
    from docsum.config import ModelNotFound

    assert ModelNotFound is docsum.ModelNotFound
    assert issubclass(ModelNotFound, docsum.DocsumError) and issubclass(ModelNotFound, FileNotFoundError)


@pytest.mark.parametrize(
    ("driver_message", "expected"),
    [
        ("database is locked", "the database is busy: database is locked (another process holds a lock"),
        ("database or disk is full", "the database cannot write: database or disk is full (is its disk full?)"),
        ("attempt to write a readonly database", "the database refuses writes: attempt to write a readonly"),
        ("unable to open database file", "cannot open the database file: unable to open database file"),
        ("connection refused", "cannot reach the database: connection refused (check DOCSUM_DATABASE_URL"),
    ],
)
def test_a_database_error_says_what_went_wrong(driver_message: str, expected: str) -> None:
    """A locked or full database is not an unreachable one: the line says which, with what to do."""
    import sqlite3

    import sqlalchemy.exc

    from docsum.outages import EXIT_DATABASE, describe

    error = sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(driver_message))
    code, line = describe(error)
    assert code == EXIT_DATABASE and line.startswith(expected), line
