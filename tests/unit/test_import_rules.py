"""The import rules of DESIGN.md, enforced by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("controlplane", "sidecar", "collector", "dashboards")
NETWORK_MODULES = {"asyncio", "socket", "ssl", "selectors", "uvloop"}


def _modules() -> list[Path]:
    return sorted(p for c in COMPONENTS for p in (ROOT / c).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (including lazy imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _component(module: str) -> str:
    top = module.split(".", maxsplit=1)[0]
    if module == "controlplane.api" or module.startswith("controlplane.api."):
        return "controlplane.api"
    return top


def violations(path: Path) -> list[str]:
    """The imports of ``path`` that break a rule, as readable strings."""
    rel = path.relative_to(ROOT).as_posix()
    own = _component(rel.removesuffix(".py").replace("/", "."))
    found = []
    for module in _imports(path):
        target = _component(module)
        if target not in (*COMPONENTS, "controlplane.api"):
            if rel.startswith("sidecar/http1/") and module.split(".")[0] in NETWORK_MODULES:
                found.append(f"{rel}: sans-IO codec imports {module}")
            continue
        if rel == "controlplane/cli.py":
            continue  # the single entry point loads each component lazily
        if own == "controlplane.api" and target != "controlplane.api":
            found.append(f"{rel}: controlplane.api is a leaf but imports {module}")
        elif own != "controlplane.api" and target not in (own, "controlplane.api"):
            found.append(f"{rel}: {own} may import only itself and controlplane.api, not {module}")
    return found


def test_every_module_keeps_the_import_rules() -> None:
    problems = [v for path in _modules() for v in violations(path)]
    assert problems == []


@pytest.mark.parametrize(
    ("rel", "source", "expected"),
    [
        ("sidecar/x.py", "import collector.storage", "sidecar may import only"),
        ("sidecar/x.py", "from controlplane import ca", "sidecar may import only"),
        ("controlplane/api/x.py", "from sidecar import server", "is a leaf"),
        ("sidecar/http1/x.py", "import asyncio", "sans-IO codec imports asyncio"),
    ],
)
def test_the_checker_catches_a_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rel: str, source: str, expected: str
) -> None:
    fake_root = tmp_path
    path = fake_root / rel
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake_root)
    assert any(expected in v for v in violations(path))
