"""The package's import graph: no cycles inside ``companion``, and every function-level import says why.

The graph is read from the source with :mod:`ast`, not by importing: every ``import`` / ``from ... import``
anywhere in a module counts (at the top, inside functions, methods and classes), except those under
``if TYPE_CHECKING:`` (never run). ``from companion.x import y`` points at ``companion.x.y`` when that is a
module, else at ``companion.x``; relative imports are resolved against the importing module's package. An
import placed inside a function still runs, so it cannot hide a cycle here.

A function-level import is kept only for a heavy or optional dependency, or for start-up time (the CLI's
``--help``, the runner importing ``session`` without NumPy); it carries a ``# reason: ...`` comment on its own
line or on the line just above.
"""
from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = "companion"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package (``__init__.py`` names its package)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree: ast.AST):
    """Every import node of ``tree`` with its depth: ``(node, inside_function)``; ``if TYPE_CHECKING:`` bodies
    are left out (they never run)."""
    def walk(node, inside_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    yield from walk_one(sub, inside_function)
                continue
            yield from walk_one(child, inside_function)

    def walk_one(node, inside_function):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, inside_function
        yield from walk(node, inside_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                    ast.Lambda)))

    yield from walk(tree, False)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imported_modules(node, module: str, path: Path, known: set[str], package: str = PACKAGE) -> set[str]:
    """The package's modules that one import node loads (by name, most specific first)."""
    def deepest(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    out = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = deepest(alias.name)
            if target:
                out.add(target)
        return out
    if node.level:
        base = _package_of(module, path)
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source != package and not source.startswith(package + "."):
        return out
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        target = submodule if submodule in known else deepest(source)
        if target:
            out.add(target)
    return out


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> nx.DiGraph:
    """Module -> module it imports, for every module of the package; each edge keeps the lines it comes
    from (``lines``)."""
    files = module_files(root, package)
    known = set(files)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, _ in import_nodes(tree):
            for target in imported_modules(node, module, path, known, package):
                if target != module:
                    if graph.has_edge(module, target):
                        graph[module][target]["lines"].append(node.lineno)
                    else:
                        graph.add_edge(module, target, lines=[node.lineno])
    return graph


def subpackage_graph(subpackage: str, graph: nx.DiGraph | None = None) -> dict[str, set[str]]:
    """The imports among one subpackage's modules, by module stem (``{"zoo": {"config"}, …}``; ``__init__``
    left out): what a chapter's role tests (tests/test_ch2_imports.py, tests/test_ch7_structure.py) read."""
    graph = import_graph() if graph is None else graph
    prefix = f"{PACKAGE}.{subpackage}."
    stems = {m[len(prefix):] for m in graph if m.startswith(prefix) and "." not in m[len(prefix):]}
    return {stem: {t[len(prefix):] for t in graph.successors(prefix + stem) if t[len(prefix):] in stems}
            for stem in stems}


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Every strongly connected component of more than one module (a cycle), each sorted; sorted."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def cycle_text(graph: nx.DiGraph, component) -> str:
    """One cycle in words: its modules, and each import inside it with its line numbers."""
    sub = graph.subgraph(component)
    edges = "; ".join(f"{a} -> {b} (line {', '.join(map(str, d['lines']))})"
                      for a, b, d in sorted(sub.edges(data=True)))
    return f"{len(component)} modules {', '.join(component)}: {edges}"


def _comments(source: str) -> dict[int, str]:
    """``{line: comment text}`` of every comment of ``source``."""
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            out[token.start[0]] = token.string
    return out


def _says_reason(comment: str | None) -> bool:
    return comment is not None and comment.lstrip("#").strip().lower().startswith("reason")


def unexplained_function_imports(root: Path = ROOT, package: str = PACKAGE) -> list[str]:
    """``"file:line: import"`` of every function-level import without a ``# reason`` comment on its lines or
    the line above its block of imports (one comment may explain a block of imports that follow each other)."""
    out = []
    for module, path in module_files(root, package).items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        comments = _comments(source)
        lines = source.splitlines()
        import_lines = {line for node, _ in import_nodes(tree)
                        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node, inside_function in import_nodes(tree):
            if not inside_function:
                continue
            near = list(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            above = node.lineno - 1  # one comment covers the block of imports right below it (blank lines allowed)
            while above >= 1 and (above in import_lines or not lines[above - 1].strip()):
                near.append(above)
                above -= 1
            near.append(above)
            if not any(_says_reason(comments.get(line)) for line in near):
                out.append(f"{path.relative_to(root.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return out


# --------------------------------------------------------------------------------------------------------
# The checker itself, on small packages written here (so a broken checker cannot pass the real test).


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "a.py": "from pkg import b\n",
        "b.py": "def f():\n    from pkg.a import thing  # reason: hides a cycle\n",
        "c.py": "import pkg.a\n",
    })
    graph = import_graph(root, "pkg")
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]
    assert "pkg.b -> pkg.a (line 2)" in cycle_text(graph, ["pkg.a", "pkg.b"])


def test_relative_and_submodule_imports_resolve(tmp_path):
    root = _package(tmp_path, {
        "sub/x.py": "from . import y\nfrom .. import top\n",
        "sub/y.py": "from .x import name\n",
        "top.py": "from pkg.sub import y\n",
        "lone.py": "from pkg.sub import something_in_init\nimport os\n",
    })
    graph = import_graph(root, "pkg")
    assert graph.has_edge("pkg.sub.x", "pkg.sub.y") and graph.has_edge("pkg.sub.x", "pkg.top")
    assert graph.has_edge("pkg.top", "pkg.sub.y") and graph.has_edge("pkg.lone", "pkg.sub")
    assert import_cycles(graph) == [["pkg.sub.x", "pkg.sub.y", "pkg.top"]]  # x -> top -> y -> x


def test_type_checking_imports_do_not_count(tmp_path):
    root = _package(tmp_path, {
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n",
        "b.py": "from pkg import a\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == []


def test_function_level_imports_need_a_reason(tmp_path):
    root = _package(tmp_path, {
        "a.py": ("import os\n\n\ndef f():\n    import json\n\n\ndef g():\n    # reason: heavy optional dependency\n"
                 "    import torch\n\n\ndef h():\n    from json import (dumps,  # reason: start-up time\n"
                 "                      loads)\n\n\ndef k():\n    import csv  # a comment, not a reason\n"
                 "\n\ndef m():\n    # reason: start-up time\n    import json\n\n    import csv\n    x = 1\n"
                 "    import os\n"),
    })
    # one reason covers the block of imports right below it, blank lines included, and no further
    assert unexplained_function_imports(root, "pkg") == ["pkg/a.py:5: import json", "pkg/a.py:19: import csv  "
                                                         "# a comment, not a reason", "pkg/a.py:28: import os"]


# --------------------------------------------------------------------------------------------------------
# The package.


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert len(graph) > 50
    assert graph.has_edge("companion.zoo", "companion.atomic")  # a top-level import
    assert graph.has_edge("companion.zoo", "companion.models")  # a function-level one


def test_no_import_cycle_inside_the_package():
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(
        cycle_text(graph, c) for c in cycles)


def test_every_function_level_import_gives_its_reason():
    missing = unexplained_function_imports()
    assert not missing, (f"{len(missing)} function-level imports without a `# reason: ...` comment (keep one "
                         "only for a heavy or optional dependency or start-up time; move the others to the "
                         "top):\n" + "\n".join(missing))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))
