"""Imports point one way: cli -> client -> services / worker -> ingest, bertsum, db -> config.

Every import of every module is read (those inside functions too), so a forbidden edge fails here rather than in a
user's environment as an import cycle or a model library that reads the application's settings.
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
    "docsum.worker": ("docsum.client", *ABOVE_ALL),
    "docsum.client": ABOVE_ALL,
}


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


def violations() -> list[str]:
    found = []
    for module, path in sorted(module_files().items()):
        rules = [banned for owner, banned in FORBIDDEN.items() if module == owner or module.startswith(owner + ".")]
        for name in sorted(imported_names(path, module)):
            if any(name == ok or name.startswith(ok + ".") for ok in ANY_LAYER):
                continue
            for banned in (b for rule in rules for b in rule):
                if name == banned.rstrip(".") or name.startswith(banned if banned.endswith(".") else banned + "."):
                    found.append(f"{module} imports {name}")
    return found


def test_every_package_is_seen() -> None:
    modules = module_files()
    for expected in (
        "docsum.config",
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
