"""Chapter 2's module roles hold: ``config`` imports no experiment module and no PyTorch, and ``zoo`` never
imports an experiment module back (imports inside functions count). Import cycles and the reasons of
function-level imports are checked for the whole package by tests/test_import_cycles.py."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "companion" / "ch2"
#: The modules that run an experiment of a notebook (zoo.py must not import them).
EXPERIMENTS = {"efficiency", "initialisation", "pcarn", "qualitative", "evaluation", "costs_tables"}


def _imports(path: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """The companion.ch2 modules ``path`` imports (anywhere in the file, functions included) and its
    function-level imports (line number, source line)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    lines = source.splitlines()
    found, inner = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if id(node) not in top:
            inner.append((node.lineno, lines[node.lineno - 1]))
        if isinstance(node, ast.ImportFrom) and node.module == "companion.ch2":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("companion.ch2."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("companion.ch2."))
    return found - {path.stem}, inner


def _graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    return {name: _imports(path)[0] & set(modules) for name, path in modules.items()}


def test_config_and_zoo_keep_their_roles():
    graph = _graph()
    assert graph["config"] == set()
    assert not graph["zoo"] & EXPERIMENTS, graph["zoo"]
    code = "import sys, companion.ch2.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
