"""Chapter 7's package reads top to bottom: no import cycle among its modules (counting imports placed inside
functions too), every function-level import names its reason, and ``zoo.py`` never imports the experiments.
The import graph and the reason check are tests/test_import_cycles.py's, read here for Chapter 7."""
from __future__ import annotations

import networkx as nx

from test_import_cycles import import_cycles, subpackage_graph, unexplained_function_imports


def test_no_import_cycle_inside_chapter_7():
    graph = subpackage_graph("ch7")
    assert import_cycles(nx.DiGraph([(a, b) for a, targets in graph.items() for b in targets])) == []
    assert "experiments" not in graph["zoo"] and "zoo" not in graph["training"]


def test_the_cycle_finder_finds_a_cycle():
    cycles = import_cycles(nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]))
    assert [set(c) for c in cycles] == [{"a", "b", "c"}]


def test_every_function_level_import_in_chapter_7_says_why():
    missing = [line for line in unexplained_function_imports() if line.startswith("companion/ch7/")]
    assert missing == []
