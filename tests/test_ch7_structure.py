"""Chapter 7's package reads top to bottom: no import cycle among its modules (counting imports placed inside
functions too), every function-level import names its reason, and ``zoo.py`` never imports the experiments."""
from __future__ import annotations

import ast
from pathlib import Path

import companion

PACKAGE = Path(companion.__file__).parent / "ch7"


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported companion.ch7 module, inside a function, line) for every import of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
                found.extend((n, inside, child.lineno) for n in names)
            elif isinstance(child, ast.Import):
                found.extend((a.name, inside, child.lineno) for a in child.names)
            visit(child, nested)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for stem in modules:
        targets = set()
        for name, _, _ in _imports(PACKAGE / f"{stem}.py"):
            if name.startswith("companion.ch7."):
                target = name.split(".")[2]
                if target in modules and target != stem:
                    targets.add(target)
        graph[stem] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            connect(v)
    return out


def test_no_import_cycle_inside_chapter_7():
    graph = _graph()
    assert _cycles(graph) == []
    assert "experiments" not in graph["zoo"] and "zoo" not in graph["training"]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_every_function_level_import_in_chapter_7_says_why():
    missing = []
    for path in sorted(PACKAGE.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for _, inside, line in _imports(path):
            if inside:
                here, above = lines[line - 1], lines[line - 2] if line > 1 else ""
                block = [here, above] + [lines[i] for i in range(max(0, line - 8), line - 1)]
                if not any("# reason:" in text for text in block):
                    missing.append(f"{path.name}:{line}")
    assert missing == []
