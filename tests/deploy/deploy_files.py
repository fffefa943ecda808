"""docker-compose.yml, docker/*.Dockerfile, .dockerignore and .env.example as data, for the tests in tests/deploy:
compose interpolation with .env.example's values, service commands as argv, the real click command lines."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import dockerfile
import typer
import yaml
from docker.utils.build import exclude_paths
from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
DEPLOYING_DOC = REPO_ROOT / "docs" / "DEPLOYING.md"
SHIPPED_MODEL = "models/docsum-minilm-cnndm"
TORCH_PIN = "torch==2.13.0"

COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())  # PyYAML resolves the `<<:` merge keys
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE_VALUES: dict[str, str | None] = dotenv_values(ENV_EXAMPLE)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH|CREDENTIAL", re.IGNORECASE)
# Compose interpolation: $$ is a literal $, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
SETTING_NAME = re.compile(r"\bDOCSUM_[A-Z][A-Z0-9_]*")


# --- helpers ---------------------------------------------------------------------------------------------------------


def interpolate(value: str) -> str:
    """A string as compose would pass it, with variables taken from .env.example (an empty secret becomes a
    placeholder, as a filled-in .env would have one)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg") or ""
        found = ENV_EXAMPLE_VALUES.get(name)
        if (op.startswith(":") and not found) or (not op.startswith(":") and found is None):
            if op.endswith("-"):
                return arg
            if op.endswith("?"):
                return f"example-{name.lower()}"
        return found or ""

    return INTERPOLATION.sub(substitute, value)


def argv_of(command: str | list[str]) -> list[str]:
    """A compose `command` or healthcheck command as the argv the container runs."""
    return [interpolate(str(token)) for token in (shlex.split(command) if isinstance(command, str) else command)]


def healthcheck_argv(service: dict[str, Any]) -> list[str] | None:
    """The healthcheck as an argv when it is one plain command (CMD, or CMD-SHELL without shell operators)."""
    test = service.get("healthcheck", {}).get("test")
    if isinstance(test, list) and test[0] == "CMD":
        return argv_of(test[1:])
    if isinstance(test, list) and test[0] == "CMD-SHELL":
        test = test[1]
    if isinstance(test, str) and not re.search(r"[|;&<>]", test):
        return argv_of(test)
    return None


def option_value(argv: list[str], option: str) -> str | None:
    for i, token in enumerate(argv):
        if token == option and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(option + "="):
            return token.split("=", 1)[1]
    return None


# typer (0.29+) parses with its own copy of click, celery with click itself: both kinds of usage error count.
CLI_ERRORS: tuple[type[Exception], ...] = (click.ClickException, typer.TyperException)


def cli_error_message(error: Exception) -> str:
    return error.format_message() if hasattr(error, "format_message") else str(error)


def parse_cli(root: Any, argv: list[str]) -> Any:
    """Resolve argv exactly as the program does when it runs, without invoking anything: group options, then
    subcommands by name, then the leaf command's own parser. Unknown commands or options, bad choices and missing
    arguments raise one of CLI_ERRORS, naming them. Works on click commands and on typer's, which are look-alikes."""
    path = [argv[0]]
    ctx = root.make_context(argv[0], list(argv[1:]))
    command = root
    while hasattr(command, "resolve_command"):  # a group
        # Click < 9 keeps the subcommand name apart in _protected_args; Click 9 leaves every token in args.
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            raise click.UsageError(f"'{' '.join(path)}' needs a subcommand")
        name, sub, sub_args = command.resolve_command(ctx, rest)
        if name is None or sub is None:
            raise click.UsageError(f"'{' '.join(path)}' has no command {rest[0]!r}")
        path.append(name)
        command = sub
        ctx = sub.make_context(" ".join(path), sub_args, parent=ctx)
    return ctx


def docsum_cli() -> Any:
    import docsum.cli

    return typer.main.get_command(docsum.cli.app)


def celery_cli() -> click.Command:
    from celery.bin.celery import celery

    return celery


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def commanded(program: str) -> list[str]:
    return [
        name
        for name, service in SERVICES.items()
        if service.get("command") and argv_of(service["command"])[0] == program
    ]


def dockerfile_stages(path: Path) -> list[list[dockerfile.Command]]:
    """Instructions grouped by build stage, parsed by BuildKit's own parser (a syntax error raises)."""
    stages: list[list[dockerfile.Command]] = [[]]
    for instruction in dockerfile.parse_file(str(path)):
        if instruction.cmd == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def arg_defaults(instructions: list[dockerfile.Command]) -> dict[str, str]:
    return dict(value.split("=", 1) for ins in instructions if ins.cmd == "ARG" for value in ins.value if "=" in value)


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)


def referenced_dockerfiles() -> dict[str, Path]:
    found = {}
    for name, service in SERVICES.items():
        build = service.get("build")
        if build is not None:
            context = REPO_ROOT / (build if isinstance(build, str) else build.get("context", "."))
            found[name] = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
    return found


def build_context_paths() -> set[str]:
    """Files and folders that `docker build .` sends, with .dockerignore applied by docker-py's implementation."""
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    return set(exclude_paths(str(REPO_ROOT), patterns))


def worker_services(queue: str) -> list[str]:
    return [
        name
        for name in commanded("docsum")
        if argv_of(SERVICES[name]["command"])[1] == "worker"
        and option_value(argv_of(SERVICES[name]["command"]), "--queue") == queue
    ]
