"""Chapter 2's package has no import cycle, counting imports placed inside functions, and its roles hold:
``config`` imports no experiment module and no PyTorch, ``zoo`` never imports an experiment module back, and a
function-level import is kept only for a heavy optional dependency, with a ``# reason`` comment."""
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
    """The companion.ch2 modules ``path`` imports (anywhere in the file) and its function-level imports
    (line number, source line)."""
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


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_chapter_2():
    assert _cycles(_graph()) == []


def test_config_and_zoo_keep_their_roles():
    graph = _graph()
    assert graph["config"] == set()
    assert not graph["zoo"] & EXPERIMENTS, graph["zoo"]
    code = "import sys, companion.ch2.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_function_level_imports_say_why():
    unexplained = [f"{path.name}:{line}: {text.strip()}" for path in sorted(PACKAGE.glob("*.py"))
                   for line, text in _imports(path)[1] if "# reason" not in text]
    assert unexplained == []
