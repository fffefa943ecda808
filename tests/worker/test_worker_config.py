"""The Celery app's configuration (guarding against Celery's known GPU-inference traps) and the CLI's refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

from celery.schedules import crontab
from fleet_harness import DOCSUM, REPO_ROOT
from kombu import Consumer, Queue

from docsum.config import Settings
from docsum.worker.app import PromptMemoryTransport, create_app, nightly_schedule


def test_app_is_configured_for_long_gpu_tasks() -> None:
    app = create_app(Settings(broker_url="redis://127.0.0.1:1/9", visibility_timeout=600, database_url="sqlite://"))
    conf = app.conf
    assert conf.broker_url == "redis://127.0.0.1:1/9"
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result and not conf.result_backend
    assert conf.worker_send_task_events and conf.task_send_sent_event
    # Redis redelivery: our timeout, and a restore sweep fast enough to notice it (kombu's default is ~100 s).
    assert conf.broker_transport_options == {
        "visibility_timeout": 600,
        "unacked_restore_interval": 60,
        "unacked_restore_throttle": 1,
    }
    assert {q.name for q in conf.task_queues} == {"ingest", "summarize"}
    assert app.amqp.router.route({}, "docsum.summarize_chunk")["queue"].name == "summarize"
    assert app.amqp.router.route({}, "docsum.ingest_files")["queue"].name == "ingest"
    assert {"docsum.ingest_files", "docsum.summarize_chunk", "docsum.nightly"} <= set(app.tasks)


def test_apps_keep_their_own_settings() -> None:
    a = create_app(Settings(broker_url=None, database_url="sqlite:////tmp/a.db"))
    b = create_app(Settings(broker_url="redis://127.0.0.1:1/9", database_url="sqlite:////tmp/b.db"))
    assert a.embedded and a.conf.broker_url == "memory://" and not b.embedded
    assert a.tasks["docsum.summarize_chunk"].app is a and b.tasks["docsum.summarize_chunk"].app is b


def test_the_embedded_transport_comes_back_to_the_stop_flag_promptly() -> None:
    """Celery's solo loop reads its stop flag between waits for a message, which it asks to last 2 s: the embedded
    app's transport answers a wait of any length within a tenth of a second, so an embedded run exits when its work
    is done. Here a wait asked for 60 s must come back well within 10 (the bound only catches the full wait)."""
    app = create_app(Settings(broker_url=None, database_url="sqlite://"))
    with app.connection_for_read() as connection:
        assert isinstance(connection.transport, PromptMemoryTransport)
        outcome: list[BaseException] = []
        with Consumer(connection, queues=[Queue("docsum-test-empty")], callbacks=[lambda body, message: None]):
            waiter = threading.Thread(target=_drain, args=(connection, outcome), daemon=True)
            waiter.start()
            waiter.join(10)
        assert not waiter.is_alive(), "a 60 s wait on the embedded transport was not cut short"
        assert len(outcome) == 1 and isinstance(outcome[0], socket.timeout)


def _drain(connection, outcome: list[BaseException]) -> None:
    try:
        connection.drain_events(timeout=60)
    except BaseException as error:  # noqa: BLE001 - the test reads what ended the wait
        outcome.append(error)


def test_nightly_schedule_from_settings() -> None:
    schedule = nightly_schedule(Settings(nightly_cron="30 3 * * 1-5", nightly_roots=["/data/a", "/data/b"]))
    entry = schedule["docsum-nightly"]
    assert entry["task"] == "docsum.nightly" and entry["args"] == (["/data/a", "/data/b"],)
    assert entry["schedule"] == crontab(minute="30", hour="3", day_of_week="1-5")
    assert nightly_schedule(Settings(nightly_roots=[])) == {}


def _docsum(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCSUM_", "FLOWER_"))}
    return subprocess.run(
        [DOCSUM, *args], cwd=REPO_ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_cli_refusals() -> None:
    redis_env = {"DOCSUM_BROKER_URL": "redis://127.0.0.1:1/9"}
    flower = _docsum(["flower", "--address", "0.0.0.0"], **redis_env)
    assert flower.returncode == 2 and "refusing to serve Flower on 0.0.0.0 without authentication" in flower.stderr
    malformed = _docsum(["flower"], DOCSUM_FLOWER_BASIC_AUTH="justauser", **redis_env)
    assert malformed.returncode == 5 and "DOCSUM_FLOWER_BASIC_AUTH: must be user:password" in malformed.stderr
    assert "justauser" not in malformed.stderr
    prefork = _docsum(["worker", "--queue", "summarize", "--pool", "prefork"], **redis_env)
    assert prefork.returncode == 2 and "must not fork" in prefork.stderr
    no_broker = _docsum(["worker", "--queue", "ingest"])
    assert no_broker.returncode == 2 and "DOCSUM_BROKER_URL is not set" in no_broker.stderr
    beat = _docsum(["beat"], **redis_env)
    assert beat.returncode == 2 and "DOCSUM_NIGHTLY_ROOTS is empty" in beat.stderr
