"""The healthchecks of docker-compose.yml, run for real: each service's own command started as compose would start
it (against the test Redis instead of the in-stack one), then its healthcheck command, which must pass while the
service runs and fail when it cannot do its job."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_files import SERVICES, argv_of, commanded, env_of, interpolate, worker_services
from servers import free_port

BIN = Path(sys.executable).parent


def service_env(service: str, redis_url: str, database_url: str) -> dict[str, str]:
    """The service's environment from docker-compose.yml, pointed at the test Redis and database, on the CPU."""
    env = {key: interpolate(value) for key, value in env_of(SERVICES[service]).items()}
    return {
        **os.environ,
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOSTNAME": socket.gethostname(),  # Docker sets it in every container; CMD-SHELL healthchecks read it
        "DOCSUM_BROKER_URL": redis_url,
        "DOCSUM_DATABASE_URL": database_url,
        "DOCSUM_DEVICE": "cpu",  # no GPU here; the summarize worker loads its model on the first task anyway
        "DOCSUM_NIGHTLY_ROOTS": '["/archive"]',
    }


def shell_healthcheck(service: str) -> str:
    """The healthcheck command line as the container's /bin/sh receives it."""
    test = SERVICES[service]["healthcheck"]["test"]
    return interpolate(test[1]) if test[0] == "CMD-SHELL" else " ".join(interpolate(t) for t in test[1:])


def run_healthcheck(
    service: str, env: dict[str, str], replace: tuple[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    test = SERVICES[service]["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        command = interpolate(test[1])
        argv = ["/bin/sh", "-c", command.replace(*replace) if replace else command]
    else:
        argv = [interpolate(t).replace(*replace) if replace else interpolate(t) for t in test[1:]]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[callable]:
    """Start a service's command (argv[0] from this venv); stop it with SIGTERM afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{argv[1]}.log"
        program = shutil.which(argv[0], path=env["PATH"])
        assert program, f"{argv[0]} not found"
        process = subprocess.Popen(
            [program, *argv[1:]], env=env, cwd=tmp_path, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        started.append(process)
        return process, log

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(
    service: str, env: dict[str, str], process: subprocess.Popen[bytes], log: Path, seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"{service} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        result = run_healthcheck(service, env)
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, (
            f"{service} never became healthy: {result.stdout}{result.stderr}\n{log.read_text()[-3000:]}"
        )
        time.sleep(1)


@pytest.mark.parametrize("service", [*worker_services("ingest"), *worker_services("summarize")])
def test_worker_healthcheck_pings_the_running_worker(
    service: str, redis_url: str, sqlite_url: str, start_service
) -> None:
    # A container of its own: a unique host name, which Celery's %h and the shell's $HOSTNAME both read there. Here
    # %h would be this machine's name, which other workers on this machine may also carry.
    container = f"docsum-test-{uuid.uuid4().hex[:12]}"
    env = {**service_env(service, redis_url, sqlite_url), "HOSTNAME": container}
    argv = [token.replace("%h", container) for token in argv_of(SERVICES[service]["command"])]
    process, log = start_service(argv, env)
    wait_until_healthy(service, env, process, log)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    gone = run_healthcheck(service, env, replace=("-t 10", "-t 2"))
    assert gone.returncode != 0, f"the healthcheck of {service} passes with no worker running: {gone.stdout}"


@pytest.mark.parametrize(
    "service", [name for name in commanded("docsum") if argv_of(SERVICES[name]["command"])[1] == "beat"]
)
def test_beat_healthcheck_needs_a_reachable_broker(service: str, redis_url: str, sqlite_url: str) -> None:
    assert run_healthcheck(service, service_env(service, redis_url, sqlite_url)).returncode == 0
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = run_healthcheck(service, service_env(service, f"redis://127.0.0.1:{closed}/0", sqlite_url))
    assert down.returncode != 0


@pytest.mark.parametrize(
    "service", [name for name in commanded("docsum") if argv_of(SERVICES[name]["command"])[1] == "flower"]
)
def test_flower_healthcheck_metrics_and_auth(service: str, redis_url: str, sqlite_url: str, start_service) -> None:
    """Flower as compose runs it (listening on loopback here), with basic auth: the healthcheck passes, the UI refuses
    a request without credentials, and /metrics answers the Prometheus scrape of docs/DEPLOYING.md (with or without
    credentials, as the guide says)."""
    user, password = "operator", uuid.uuid4().hex  # as a filled-in .env would set DOCSUM_FLOWER_BASIC_AUTH
    env = {**service_env(service, redis_url, sqlite_url), "DOCSUM_FLOWER_BASIC_AUTH": f"{user}:{password}"}
    port = str(free_port())
    argv = argv_of(SERVICES[service]["command"])
    argv[argv.index("--address") + 1] = "127.0.0.1"
    container_port = argv[argv.index("--port") + 1]
    argv[argv.index("--port") + 1] = port
    process, log = start_service(argv, env)

    deadline = time.monotonic() + 60
    while run_healthcheck(service, env, replace=(f":{container_port}/", f":{port}/")).returncode != 0:
        assert process.poll() is None, f"flower exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"flower never became healthy:\n{log.read_text()[-3000:]}"
        time.sleep(1)

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert refused.value.code == 401
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and b"flower_" in response.read()
    # docs/DEPLOYING.md says Flower serves /metrics without checking credentials, so only loopback keeps it private.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
