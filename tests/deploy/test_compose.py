"""The deployment files (docker-compose.yml, docker/*.Dockerfile, .dockerignore, .env.example), checked without a
Docker engine: against the Compose Specification schema, against the real `docsum` and `celery` command lines,
against the Settings fields, and by building the wheel the images install from the build context they would get.

A command or option that a service uses but the CLI does not have fails here by name.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_files import (
    CLI_ERRORS,
    COMPOSE_FILE,
    DEPLOYING_DOC,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    ENV_EXAMPLE_VALUES,
    INTERPOLATION,
    REPO_ROOT,
    SECRET_NAME,
    SERVICES,
    SETTING_NAME,
    SHIPPED_MODEL,
    TORCH_PIN,
    arg_defaults,
    argv_of,
    build_context_paths,
    celery_cli,
    cli_error_message,
    commanded,
    dockerfile_stages,
    docsum_cli,
    env_of,
    expand,
    healthcheck_argv,
    option_value,
    parse_cli,
    referenced_dockerfiles,
    worker_services,
)
from docker.utils.build import exclude_paths
from servers import free_port

# --- the compose file as a whole -------------------------------------------------------------------------------------


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    """The schema check above is live: the same file with one key misspelt fails it."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_periods:", 1))
    result = check_compose_schema(broken)
    assert result.returncode != 0 and "stop_grace_periods" in result.stdout


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = {m.group("name") for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text()) if m.group("name")}
    missing = sorted(used - set(ENV_EXAMPLE_VALUES))
    assert not missing, f"docker-compose.yml uses ${{...}} variables that .env.example does not list: {missing}"


def docsum_setting_names() -> Iterator[tuple[str, str]]:
    sources = [COMPOSE_FILE, ENV_EXAMPLE, *referenced_dockerfiles().values()]
    if DEPLOYING_DOC.exists():
        sources.append(DEPLOYING_DOC)
    for source in sources:
        for name in sorted(set(SETTING_NAME.findall(source.read_text()))):
            yield source.relative_to(REPO_ROOT).as_posix(), name


def test_every_docsum_variable_is_a_settings_field() -> None:
    """pydantic-settings ignores unknown DOCSUM_* variables, so a misspelt one would silently do nothing."""
    from docsum.config import Settings

    prefix = Settings.model_config["env_prefix"]
    unknown = [
        f"{name} (in {source})"
        for source, name in docsum_setting_names()
        if name[len(prefix) :].lower() not in Settings.model_fields
    ]
    assert not unknown, f"not fields of docsum.config.Settings: {unknown}"


def test_env_example_values_load_as_settings_and_a_nightly_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values .env.example sets (a cron string, a JSON list of roots) load the way a container loads them."""
    from docsum.config import Settings
    from docsum.worker.app import nightly_schedule

    for name, value in ENV_EXAMPLE_VALUES.items():
        if name.startswith("DOCSUM_") and value:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.nightly_roots == yaml.safe_load(ENV_EXAMPLE_VALUES["DOCSUM_NIGHTLY_ROOTS"] or "")
    assert nightly_schedule(settings), "beat would have nothing to schedule"


# --- commands --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", commanded("docsum"))
def test_service_command_is_a_real_docsum_command(service: str) -> None:
    argv = argv_of(SERVICES[service]["command"])
    try:
        parse_cli(docsum_cli(), argv)
    except CLI_ERRORS as error:
        pytest.fail(f"service {service!r} runs `{shlex.join(argv)}`: {cli_error_message(error)}")


@pytest.mark.parametrize(
    "service", [name for name, s in SERVICES.items() if (healthcheck_argv(s) or [""])[0] in ("docsum", "celery")]
)
def test_healthcheck_is_a_real_command(service: str) -> None:
    argv = healthcheck_argv(SERVICES[service])
    assert argv is not None
    try:
        ctx = parse_cli(docsum_cli() if argv[0] == "docsum" else celery_cli(), argv)
    except CLI_ERRORS as error:
        pytest.fail(f"healthcheck of {service!r} runs `{shlex.join(argv)}`: {cli_error_message(error)}")
    if argv[0] == "celery":
        app_name = ctx.find_root().params["app"]
        from celery import Celery
        from celery.app.utils import find_app

        assert isinstance(find_app(app_name), Celery), f"`celery -A {app_name}` does not name a Celery app"


def test_python_healthchecks_import_what_they_use() -> None:
    for name, service in SERVICES.items():
        argv = healthcheck_argv(service)
        if argv and argv[0] == "python" and argv[1] == "-c":
            for module, attr in re.findall(r"from ([\w.]+) import (\w+)", argv[2]):
                assert hasattr(importlib.import_module(module), attr), (
                    f"healthcheck of {name!r}: {module}.{attr} missing"
                )


def test_worker_healthchecks_ping_their_own_worker() -> None:
    for queue in ("ingest", "summarize"):
        for name in worker_services(queue):
            argv = argv_of(SERVICES[name]["command"])
            nodename = option_value(argv, "--hostname")
            assert nodename, f"{name}: set --hostname so the healthcheck can address this worker"
            check = healthcheck_argv(SERVICES[name])
            assert check and check[:2] == ["celery", "-A"] and "ping" in check, (
                f"{name}: healthcheck should be `celery inspect ping`"
            )
            # In the container Celery expands %h to the hostname, the shell expands $HOSTNAME to the same.
            assert option_value(check, "-d") == nodename.replace("%h", "$HOSTNAME"), (
                f"{name}: healthcheck pings another node"
            )


def test_ingest_workers_are_prefork_and_scalable() -> None:
    names = worker_services("ingest")
    assert names, "no service runs `docsum worker --queue ingest`"
    for name in names:
        service, argv = SERVICES[name], argv_of(SERVICES[name]["command"])
        assert option_value(argv, "--pool") in (None, "prefork"), f"{name}: ingest is CPU-bound extraction, use prefork"
        assert "container_name" not in service, f"{name}: container_name prevents --scale"
        for port in service.get("ports", []):
            published = (
                port.get("published")
                if isinstance(port, dict)
                else (str(port).split(":")[-2] if ":" in str(port) else None)
            )
            assert not published, f"{name}: a fixed host port prevents --scale"


def test_summarize_worker_is_one_process_on_a_reserved_nvidia_gpu() -> None:
    names = worker_services("summarize")
    assert names, "no service runs `docsum worker --queue summarize`"
    for name in names:
        service, argv = SERVICES[name], argv_of(SERVICES[name]["command"])
        # No fork after CUDA init: solo, or threads with one thread.
        pool, concurrency = option_value(argv, "--pool"), option_value(argv, "--concurrency")
        assert pool in ("solo", "threads"), f"{name}: --pool must be solo or threads, not {pool}"
        assert concurrency == "1" or (pool == "solo" and concurrency is None), f"{name}: one task at a time per GPU"
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices), (
            f"{name}: reserve an nvidia GPU"
        )
        assert referenced_dockerfiles()[name].name == "cuda.Dockerfile", (
            f"{name}: the summarize worker needs the CUDA image"
        )


def test_beat_runs_the_nightly_schedule_with_the_archive_read_only() -> None:
    beats = [name for name in commanded("docsum") if argv_of(SERVICES[name]["command"])[1] == "beat"]
    assert len(beats) == 1, f"exactly one beat, found {beats}"
    readers = [*beats, *worker_services("ingest")]
    mounts = {name: archive_mounts(SERVICES[name]) for name in readers}
    for name, found in mounts.items():
        assert found, f"{name}: the archive is not mounted"
        assert all(read_only for _, read_only in found), f"{name}: mount the archive read-only"
    targets = {target for found in mounts.values() for target, _ in found}
    assert len(targets) == 1, f"tasks carry paths: mount the archive at one path everywhere, found {targets}"
    roots = yaml.safe_load(ENV_EXAMPLE_VALUES["DOCSUM_NIGHTLY_ROOTS"] or "[]")
    (target,) = targets
    assert roots and all(root.startswith(target) for root in roots), f"DOCSUM_NIGHTLY_ROOTS {roots} not under {target}"


def archive_mounts(service: dict[str, Any]) -> list[tuple[str, bool]]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind" and "ARCHIVE" in str(volume.get("source")):
                found.append((volume["target"], bool(volume.get("read_only"))))
        elif "ARCHIVE" in volume:
            parts = volume.split(":")
            found.append((parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return found


def test_flower_requires_auth_and_listens_on_loopback_only() -> None:
    names = [name for name in commanded("docsum") if argv_of(SERVICES[name]["command"])[1] == "flower"]
    assert names, "no flower service"
    for name in names:
        service = SERVICES[name]
        auth = env_of(service).get("DOCSUM_FLOWER_BASIC_AUTH", "")
        match = INTERPOLATION.fullmatch(auth)
        assert match and match.group("op") == ":?", (
            f"{name}: DOCSUM_FLOWER_BASIC_AUTH must be a required ${{VAR:?}} from .env"
        )
        assert service.get("ports"), f"{name}: publish Flower's port (on loopback)"
        for port in service["ports"]:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name}: port {port} is published beyond loopback"


def redis_script() -> str:
    """The shell script the redis service runs (`sh -c SCRIPT`)."""
    argv = argv_of(SERVICES["redis"]["command"])
    assert argv[:2] == ["sh", "-c"], argv
    return argv[2]


def test_redis_never_evicts_and_persists() -> None:
    argv = shlex.split(redis_script().splitlines()[0])
    assert option_value(argv, "--maxmemory-policy") == "noeviction"
    assert option_value(argv, "--appendonly") == "yes"


def test_redis_password_stays_off_the_command_line(tmp_path: Path) -> None:
    """The service's own script, run here (on a free port, in tmp_path): Redis requires the password from the
    environment, and no process's arguments contain it."""
    import redis

    port = free_port()
    script = redis_script().replace("redis-server", f"redis-server --port {port} --bind 127.0.0.1 --dir {tmp_path}", 1)
    password = "pw-" + os.urandom(8).hex()
    env = {**os.environ, "REDISCLI_AUTH": password}
    server = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        authed = redis.Redis(host="127.0.0.1", port=port, password=password, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                assert authed.ping()
                break
            except redis.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
        assert Path(f"/proc/{server.pid}/cmdline").read_bytes().find(password.encode()) == -1
        assert b"redis-server" in Path(f"/proc/{server.pid}/cmdline").read_bytes()  # exec: the shell is gone
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- lifecycle -------------------------------------------------------------------------------------------------------


def one_shot_services() -> set[str]:
    return {
        dependency
        for service in SERVICES.values()
        for dependency, spec in (service.get("depends_on") or {}).items()
        if isinstance(spec, dict) and spec.get("condition") == "service_completed_successfully"
    }


def test_migrate_runs_once_before_every_worker_and_beat() -> None:
    assert one_shot_services() == {"migrate"}
    migrate = SERVICES["migrate"]
    assert argv_of(migrate["command"]) == ["docsum", "db", "upgrade"]
    assert migrate.get("restart", "no") in ("no", "on-failure"), (
        "a one-shot service must not be restarted after exiting 0"
    )
    dependents = [n for n in commanded("docsum") if argv_of(SERVICES[n]["command"])[1] in ("worker", "beat")]
    for name in dependents:
        spec = (SERVICES[name].get("depends_on") or {}).get("migrate")
        assert spec == {"condition": "service_completed_successfully"}, f"{name} must wait for migrate to complete"


@pytest.mark.parametrize("service", [name for name in SERVICES if name not in one_shot_services()])
def test_long_running_service_has_healthcheck_and_restart_policy(service: str) -> None:
    spec = SERVICES[service]
    healthcheck = spec.get("healthcheck") or {}
    assert healthcheck.get("test") and healthcheck["test"] != ["NONE"] and not healthcheck.get("disable"), (
        f"{service}: no healthcheck"
    )
    assert spec.get("restart") in ("unless-stopped", "always"), f"{service}: restart is {spec.get('restart')!r}"


# --- secrets ---------------------------------------------------------------------------------------------------------


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    for match in INTERPOLATION.finditer(text):
        name = match.group("name")
        if name and SECRET_NAME.search(name):
            assert match.group("op") == ":?", f"${{{name}}} must be required (${{{name}:?...}}), never defaulted"
    for name, service in SERVICES.items():
        for key, value in env_of(service).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} is not taken from .env"
            for credential in re.findall(r"://[^/@\s]*:([^@\s]+)@", value):
                assert INTERPOLATION.fullmatch(credential), f"{name}: {key} has a password written in the URL"
        argv = (
            [str(token) for token in service.get("command") or []] if isinstance(service.get("command"), list) else []
        )
        for option in ("--requirepass", "--password"):
            if option in argv:
                assert INTERPOLATION.fullmatch(argv[argv.index(option) + 1]), (
                    f"{name}: {option} value is written in the file"
                )


def test_env_example_has_no_secret_values_and_env_is_git_ignored() -> None:
    filled = [name for name, value in ENV_EXAMPLE_VALUES.items() if SECRET_NAME.search(name) and value]
    assert not filled, f".env.example must leave secrets empty: {filled}"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT)
    assert ignored.returncode == 0, ".env is not in .gitignore"
    assert subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=REPO_ROOT).returncode == 1


def test_dockerignore_sends_the_shipped_model_but_no_env_file_or_other_checkpoint(tmp_path: Path) -> None:
    """On a stand-in tree, since the real one need not hold every case (a .env, a training run's checkpoints)."""
    shutil.copy(DOCKERIGNORE, tmp_path / ".dockerignore")
    files = [".env", ".env.production", "README.md", f"{SHIPPED_MODEL}/config.json", "models/run-7/checkpoint.pt"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    sent = set(exclude_paths(str(tmp_path), patterns)) & set(files)
    assert sent == {"README.md", f"{SHIPPED_MODEL}/config.json"}


# --- images ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(referenced_dockerfiles()))
def test_image_is_offline_unprivileged_and_carries_the_model(service: str) -> None:
    path = referenced_dockerfiles()[service]
    assert path.is_file(), f"{service}: {path.relative_to(REPO_ROOT)} does not exist"
    stages = dockerfile_stages(path)
    args = arg_defaults(stages[0])
    final = stages[-1]
    args |= arg_defaults(final)
    env = {
        key: value
        for ins in final
        if ins.cmd == "ENV"
        for key, value in zip(ins.value[::2], ins.value[1::2], strict=True)
    }
    assert env.get("HF_HUB_OFFLINE") == "1" and env.get("TRANSFORMERS_OFFLINE") == "1", (
        f"{path.name}: set HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1"
    )
    users = [ins.value[0] for ins in final if ins.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"{path.name}: run as a non-root user"
    copies = [ins.value for ins in final if ins.cmd == "COPY" and not any(f.startswith("--from") for f in ins.flags)]
    assert any(SHIPPED_MODEL in sources[:-1] for sources in copies), f"{path.name}: copy {SHIPPED_MODEL} into the image"
    model_target = next(sources[-1] for sources in copies if SHIPPED_MODEL in sources[:-1])
    assert env.get("DOCSUM_MODEL") == model_target, f"{path.name}: DOCSUM_MODEL must point at the copied model"
    installs = [
        expand(ins.value[0], args) for ins in final if ins.cmd == "RUN" and TORCH_PIN in expand(ins.value[0], args)
    ]
    assert installs, f"{path.name}: install {TORCH_PIN} explicitly (a bare torch pulls another build)"
    base = expand(final[0].value[0], args)
    if path.name == "cpu.Dockerfile":
        assert base.startswith("python:3.11-slim") and "download.pytorch.org/whl/cpu" in installs[0]
    else:
        assert re.match(r"(nvidia/cuda:\S+-runtime|pytorch/pytorch:\S+cuda)", base), base
        assert re.search(r"download\.pytorch\.org/whl/cu\d+", installs[0]), installs[0]
        cuda_major = re.search(r"nvidia/cuda:(\d+)\.", base)
        wheel_major = re.search(r"/whl/cu(\d+?)\d$", installs[0])
        if cuda_major and wheel_major:
            assert cuda_major.group(1) == wheel_major.group(1), f"base CUDA {base} vs torch build {installs[0]}"


def copy_sources() -> set[str]:
    """What the Dockerfiles COPY from the build context (not from another stage); "." is the whole context."""
    return {
        source
        for path in set(referenced_dockerfiles().values())
        for stage in dockerfile_stages(path)
        for ins in stage
        if ins.cmd == "COPY" and not any(flag.startswith("--from") for flag in ins.flags)
        for source in ins.value[:-1]
        if source != "."
    }


def test_every_copied_path_exists_in_the_repo() -> None:
    missing = sorted(source for source in copy_sources() if not (REPO_ROOT / source).exists())
    hint = f" ({SHIPPED_MODEL} is the model trained and shipped with the project)" if SHIPPED_MODEL in missing else ""
    assert not missing, f"the Dockerfiles COPY paths the repo lacks, so `docker compose build` fails: {missing}{hint}"


def test_dockerignore_keeps_what_the_images_copy_and_drops_local_files() -> None:
    context = build_context_paths()
    dropped = sorted(s for s in copy_sources() if (REPO_ROOT / s).exists() and s not in context)
    assert not dropped, f".dockerignore drops paths the Dockerfiles COPY: {dropped}"
    local = (".git", ".venv", ".env", "var", "tests", "runs", "cache")
    leaked = sorted(path for path in context if path.split("/")[0] in local)
    assert not leaked, f".dockerignore lets these into the images: {leaked[:10]}"


@pytest.fixture(scope="module")
def wheel_from_build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the Dockerfiles' `pip wheel .` builds, built here from the same .dockerignore-filtered context."""
    root = tmp_path_factory.mktemp("context")
    for relative in build_context_paths():
        source = REPO_ROOT / relative
        if source.is_file() and not relative.startswith("models/"):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / relative)
    out = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-q",
            "-w",
            str(out),
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("docsum-*.whl")
    return wheel


def test_wheel_has_every_package_the_services_import(wheel_from_build_context: Path) -> None:
    names = set(zipfile.ZipFile(wheel_from_build_context).namelist())
    required = (
        "docsum/cli.py",
        "docsum/config.py",
        "docsum/db/migrate.py",
        "docsum/worker/app.py",
        "docsum/ingest/sandbox.py",
    )
    for name in (*required, "docsum/migrations/env.py", "docsum/migrations/script.py.mako"):
        assert name in names, f"the image would lack {name}"
    # One installed name: nothing lands beside docsum/ in site-packages (no generic `db`, `worker`, ...).
    assert {n.split("/")[0] for n in names} == {"docsum", next(n for n in names if ".dist-info/" in n).split("/")[0]}
    assert any(n.startswith("docsum/migrations/versions/") and n.endswith(".py") and "__init__" not in n for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "docsum = docsum.cli:app" in zipfile.ZipFile(wheel_from_build_context).read(entry_points).decode()


def test_installed_wheel_migrates_a_fresh_postgresql(
    wheel_from_build_context: Path, pg_url: str, tmp_path: Path
) -> None:
    """What the migrate service does, from the installed package rather than the source tree."""
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel_from_build_context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    script = (
        "import sys, docsum.db.migrate as m; "
        f"assert m.__file__.startswith({str(target)!r}), m.__file__; "
        "print(m.upgrade(sys.argv[1]), m.head())"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", script, pg_url], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    revision, head = run.stdout.split()
    assert revision == head


def test_installed_docsum_keeps_data_in_the_user_dir_and_refuses_without_a_model(
    wheel_from_build_context: Path, tmp_path: Path
) -> None:
    """`pip install` of the wheel, run outside the checkout: the embedded database and the model-id cache go to the
    user's data directory (not site-packages), and with no DOCSUM_MODEL it refuses instead of summarizing with an
    untrained head."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q"]
    install = subprocess.run(
        [*pip, "--target", str(target), str(wheel_from_build_context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    (work / "story.txt").write_text("The mayor opened the library. It has ten thousand books. Everyone came.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCSUM_", "XDG_"))}
    env.update(PYTHONPATH=str(target), HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    script = (
        "import docsum.config as c, docsum.services.models as m; "
        "print(c.IN_CHECKOUT, c.Settings().database_url, m.MODEL_ID_CACHE, c.__file__)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=work, env=env, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    in_checkout, database_url, cache, module = shown.stdout.split()
    data = home / ".local" / "share" / "docsum"
    assert module.startswith(str(target))
    expected = ("False", f"sqlite:///{data / 'docsum.db'}", str(data / "model-ids.json"))
    assert (in_checkout, database_url, cache) == expected
    run = subprocess.run(
        [sys.executable, "-m", "docsum.cli", "run", "story.txt"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert run.returncode == 5, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors and errors[0].startswith("error: no model: DOCSUM_MODEL is not set"), run.stderr
    assert "Traceback" not in run.stderr
    assert not list(target.rglob("*.db")) and not (target / "var").exists()  # nothing written into site-packages


# --- the deployment guide --------------------------------------------------------------------------------------------


def documented_docsum_commands() -> Iterator[tuple[int, list[str]]]:
    """`docsum ...` command lines in the shell blocks of docs/DEPLOYING.md (a `docsum` after an option such as
    `pg_dump -U docsum` is a value, not a command), cut at the first shell operator."""
    lines = DEPLOYING_DOC.read_text().splitlines()
    in_shell, pending, start = False, "", 0
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_shell = line.strip() in ("```bash", "```sh", "```shell")
            continue
        if not in_shell:
            continue
        pending, start = (pending + " " + line.rstrip("\\"), start) if pending else (line.rstrip("\\"), number)
        if line.endswith("\\"):
            continue
        tokens, pending = shlex.split(pending, comments=True), ""
        for i, token in enumerate(tokens):
            if token == "docsum" and (i == 0 or not tokens[i - 1].startswith("-")):
                end = next(
                    (j for j in range(i, len(tokens)) if tokens[j] in ("|", "||", "&&", ";", ">", ">>", "<")), None
                )
                yield start, tokens[i:end]


def test_deploying_guide_uses_real_docsum_commands() -> None:
    commands = list(documented_docsum_commands())
    assert len(commands) >= 5, "the guide's shell blocks were not found"
    errors = []
    for line, argv in commands:
        try:
            parse_cli(docsum_cli(), argv)
        except CLI_ERRORS as error:
            errors.append(f"docs/DEPLOYING.md:{line}: `{shlex.join(argv)}`: {cli_error_message(error)}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "argv",
    [
        ["docsum", "worker", "--queue", "ingest", "--poool", "solo"],  # misspelt option
        ["docsum", "worker", "--queue", "gpu"],  # not a queue
        ["docsum", "db", "upgrayedd"],  # no such subcommand
        ["docsum", "worker", "--pool", "solo"],  # missing required --queue
    ],
)
def test_cli_check_rejects_what_the_cli_would(argv: list[str]) -> None:
    """The command checks above are live: what `docsum` itself would refuse, parse_cli refuses."""
    with pytest.raises(CLI_ERRORS):
        parse_cli(docsum_cli(), argv)
