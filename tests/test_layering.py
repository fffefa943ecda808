"""Imports point one way: cli -> client -> worker -> services -> ingest, bertsum, db -> config (and cpus, a leaf too).

Every import of every module is read (those inside functions too), so a forbidden edge fails here rather than in a
user's environment as an import cycle or a model library that reads the application's settings.

The top floors (the CLI, the client, the worker) reach the database and ingest only through `docsum.services`, so
that a workflow is written once, there. One exemption: `docsum db`, the database's own admin command. Inside
ingest, extraction is pure (bytes in, text out); only `ingest.store` (a document per commit, so that a crash keeps
what was stored) and `ingest.pipeline` (which hands it the session factory) touch the database.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where each installed package's sources live in the checkout (pyproject.toml maps the top-level folders).
PACKAGE_DIRS = {
    "docsum": REPO_ROOT / "docsum",
    "docsum.db": REPO_ROOT / "db",
    "docsum.ingest": REPO_ROOT / "ingest",
    "docsum.worker": REPO_ROOT / "worker",
    "docsum.migrations": REPO_ROOT / "migrations",
}
ABOVE_ALL = ("docsum.cli", "docsum.commands")
# The public exceptions import nothing, so every layer may raise them (the settings too: ModelNotFound).
ANY_LAYER = ("docsum.errors",)
# package -> the docsum packages it must never import
FORBIDDEN = {
    "docsum.config": ("docsum.",),
    "docsum.cpus": ("docsum.",),
    "docsum.bertsum": (
        "docsum.config",
        "docsum.db",
        "docsum.ingest",
        "docsum.worker",
        "docsum.services",
        "docsum.client",
        *ABOVE_ALL,
    ),
    "docsum.db": ("docsum.ingest", "docsum.bertsum", "docsum.worker", "docsum.services", "docsum.client", *ABOVE_ALL),
    "docsum.ingest": ("docsum.bertsum", "docsum.worker", "docsum.services", "docsum.client", *ABOVE_ALL),
    "docsum.services": ("docsum.worker", "docsum.client", *ABOVE_ALL),
    "docsum.worker": ("docsum.client", "docsum.db", "docsum.ingest", *ABOVE_ALL),
    "docsum.client": ("docsum.db", "docsum.ingest", *ABOVE_ALL),
    "docsum.cli": ("docsum.db", "docsum.ingest"),
    "docsum.commands": ("docsum.db", "docsum.ingest"),
    "docsum.outages": ("docsum.db", "docsum.ingest"),
}
# module -> imports it may make despite FORBIDDEN, and why
EXEMPT = {
    "docsum.commands.db": ("docsum.db",),  # `docsum db upgrade|current`: the database's admin command is about it
}
# Inside ingest, the modules that may use the database (see the module docstring); the rest extract.
INGEST_PERSISTENCE = ("docsum.ingest.store", "docsum.ingest.pipeline")


def module_files() -> dict[str, Path]:
    """Installed module name -> source file, for every module of the package."""
    modules: dict[str, Path] = {}
    for package, root in PACKAGE_DIRS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if package == "docsum" and any(
                name.startswith(p + ".") or name == p for p in PACKAGE_DIRS if p != "docsum"
            ):
                continue
            modules[name] = path
    return modules


def imported_names(path: Path, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                names.add(importlib.util.resolve_name("." * node.level + (node.module or ""), package))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def rules_of(module: str) -> list[str]:
    """The docsum packages `module` must not import."""
    banned = [b for owner, rule in FORBIDDEN.items() if _within(module, owner) for b in rule]
    if _within(module, "docsum.ingest") and module not in INGEST_PERSISTENCE:
        banned.append("docsum.db")
    return banned


def violations_of(module: str, names: set[str]) -> list[str]:
    found = []
    for name in sorted(names):
        if any(_within(name, ok) for ok in (*ANY_LAYER, *EXEMPT.get(module, ()))):
            continue
        if any(_within(name, banned) for banned in rules_of(module)):
            found.append(f"{module} imports {name}")
    return found


def violations() -> list[str]:
    return [
        v
        for module, path in sorted(module_files().items())
        for v in violations_of(module, imported_names(path, module))
    ]


def test_every_package_is_seen() -> None:
    modules = module_files()
    for expected in (
        "docsum.config",
        "docsum.cpus",
        "docsum.bertsum.model",
        "docsum.db.status",
        "docsum.ingest.pdf",
        "docsum.services.batches",
        "docsum.worker.tasks",
        "docsum.client",
        "docsum.commands.batches",
    ):
        assert expected in modules


def test_imports_point_one_way() -> None:
    assert violations() == []


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from docsum.config import get_settings\n")
    assert "docsum.config" in imported_names(bad, "docsum.bertsum.bad")


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("docsum.client", "docsum.db.session"),  # the client opens no transaction of its own
        ("docsum.client", "docsum.ingest.sources"),
        ("docsum.worker.tasks", "docsum.db.session"),
        ("docsum.worker.metrics", "docsum.db.models"),  # metrics run no query of their own
        ("docsum.worker.deliveries", "docsum.ingest.store"),
        ("docsum.commands.ingest", "docsum.ingest.pipeline"),  # one way into ingest: services.ingest
        ("docsum.commands.common", "docsum.db.migrate"),
        ("docsum.cli", "docsum.db"),
        ("docsum.outages", "docsum.db.session"),
        ("docsum.ingest.pdf", "docsum.db.models"),  # extraction is pure
        ("docsum.commands.batches", "docsum.db.migrate"),  # the exemption is `docsum db`'s alone
    ],
)
def test_each_top_floor_rule_fails_on_a_forbidden_import(module: str, imported: str) -> None:
    assert violations_of(module, {imported}) == [f"{module} imports {imported}"]


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("docsum.commands.db", "docsum.db.migrate"),
        ("docsum.ingest.store", "docsum.db.models"),
        ("docsum.client", "docsum.services.database"),
        ("docsum.worker.tasks", "docsum.errors"),
    ],
)
def test_what_the_rules_allow(module: str, imported: str) -> None:
    assert violations_of(module, {imported}) == []


@pytest.mark.parametrize(
    ("module", "allowed"),
    [("docsum.bertsum", ("docsum", "docsum.bertsum")), ("docsum.config", ("docsum", "docsum.config", *ANY_LAYER))],
)
def test_importing_a_lower_layer_loads_nothing_above_it(module: str, allowed: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.split('.')[0] == 'docsum'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    loaded = set(out.stdout.split())
    assert module in loaded
    assert {
        m for m in loaded if not any(m == a or m.startswith(a + ".") for a in allowed[1:]) and m != "docsum"
    } == set()


def test_nothing_installs_a_generic_top_level_name() -> None:
    """The wheel's packages all live under `docsum` (pyproject.toml), so `import db` finds nothing of ours."""
    import tomllib

    setup = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "docsum" or p.startswith("docsum.") for p in setup["packages"])
    assert set(setup["package-dir"]) <= set(setup["packages"])
